"""School bulk messages with real parts: `mifumo web` answering the API, `mifumo scheduler`
releasing the scheduled message, a `mifumo worker` sending SMS through the Arkesel simulator
under a rate limit and e-mail to a real SMTP server (aiosmtpd), and a DELETE during sending."""

from __future__ import annotations

import itertools
from datetime import timedelta

import httpx
import pytest
from aiosmtpd.controller import Controller
from django.utils.timezone import now
from rest_framework_simplejwt.tokens import AccessToken

from mifumo.contacts.models import GroupKind
from mifumo.delivery.models import MESSAGE_PENDING, Message
from mifumo.tenancy.models import Role
from tests.delivery.test_smtp import MailServer
from tests.factories import create_contact, create_group, create_tenant, create_user
from tests.integration.conftest import (
    MIFUMO,
    free_port,
    scale_out_env,
    start_process,
    stop_process,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

OTHERS = [f"+25576511{index:04d}" for index in range(8)]


def _get(url: str):
    try:
        return httpx.get(url, timeout=5)
    except httpx.HTTPError:
        return None


@pytest.fixture
def mail_server():
    handler = MailServer()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.url = f"smtp://127.0.0.1:{controller.port}?timeout=5"
    yield handler
    controller.stop()


def test_school_messages_are_scheduled_sent_rate_limited_and_stopped_by_delete(
    tmp_path, mail_server
):
    tenant = create_tenant("Shule ya Upendo")
    admin = create_user(tenant, role=Role.ADMIN, name="Mwalimu Mkuu")
    students = create_group(tenant, "All Students", kind=GroupKind.SYSTEM)
    form_2b = create_group(tenant, "Form 2B", kind=GroupKind.CLASS)
    parent = create_contact(tenant, name="Juma Ally", phone="0754000001")
    for index, email in enumerate(["asha@students.example", "baraka@students.example"], 1):
        create_contact(
            tenant,
            name=f"Student {index}",
            phone=f"07120000{index:02d}",
            email=email,
            group_ids=[students.pk, form_2b.pk],
            guardian_ids=[parent.pk],
        )

    sim_url = f"http://127.0.0.1:{free_port()}"
    web_url = f"http://127.0.0.1:{free_port()}"
    env = scale_out_env(
        SMS_PROVIDER="arkesel",
        ARKESEL_BASE_URL=sim_url,
        ARKESEL_API_KEY="integration",
        ARKESEL_SENDER_ID="UPENDO",
        ARKESEL_RATE_LIMIT="60/m",
        SMTP_BASE_URL=mail_server.url,
        MIFUMO_DISPATCH_TIME_BUDGET="3",
        MIFUMO_DISPATCH_IDLE_SECONDS="3",
        CELERY_TASK_SOFT_TIME_LIMIT="8",
        CELERY_VISIBILITY_TIMEOUT="20",
    )
    processes = []

    def start(argv, name):
        processes.append(start_process(argv, tmp_path / f"{name}.log", env))

    try:
        start([*MIFUMO, "simulator", "--port", sim_url.rsplit(":", 1)[1]], "simulator")
        wait_until(lambda: _get(f"{sim_url}/_simulator/health"), 30, "no simulator")
        start([*MIFUMO, "web", "--port", web_url.rsplit(":", 1)[1], "--workers", "1"], "web")
        wait_until(lambda: _get(f"{web_url}/healthz"), 30, "no web server")
        start([*MIFUMO, "scheduler"], "scheduler")
        start([*MIFUMO, "worker", "--concurrency", "1", "--without-gossip"], "worker")

        api = httpx.Client(
            base_url=f"{web_url}/api/communications/",
            headers={"Authorization": f"Bearer {AccessToken.for_user(admin)}"},
            timeout=30,
        )

        def post(body) -> dict:
            response = api.post("bulk-messages/", json=body)
            assert response.status_code == 201, response.text
            return response.json()

        def status_of(created) -> str:
            return api.get(f"bulk-messages/{created['id']}/").json()["status"]

        def simulator_messages() -> list[dict]:
            body = httpx.get(f"{sim_url}/_simulator/messages?limit=1000", timeout=10).json()
            return body["results"]

        def simulator_recipients() -> list[str]:
            return [message["recipient"].lstrip("+") for message in simulator_messages()]

        groups = api.get("recipient-groups/").json()["results"]
        assert {g["name"]: g["member_count"] for g in groups}["Parents of Form 2B"] == 1

        at = now() + timedelta(seconds=4)
        scheduled = post(
            {
                "recipient_group": "Parents of Form 2B",
                "message_body": "Kikao cha wazazi Jumamosi",
                "delivery_method": "sms",
                "scheduled_time": at.isoformat(),
            }
        )
        email = post(
            {
                "recipient_group": "All Students",
                "subject": "School Closure Announcement",
                "message_body": "School will be closed tomorrow.",
                "delivery_method": "email",
            }
        )
        wait_until(lambda: status_of(email) == "Sent", 60, "the e-mail was never sent")
        received = {m["rcpt_tos"][0]: m["message"] for m in mail_server.received}
        assert set(received) == {"asha@students.example", "baraka@students.example"}
        assert {m["Subject"] for m in received.values()} == {"School Closure Announcement"}
        assert {m.get_content().strip() for m in received.values()} == {
            "School will be closed tomorrow."
        }

        wait_until(lambda: status_of(scheduled) == "Sent", 60, "the scheduled SMS never left")
        body = api.get(f"bulk-messages/{scheduled['id']}/").json()
        assert simulator_recipients() == ["255754000001"]
        assert body["sent_count"] == 1

        # Eight messages at one a second; deleted once the first has reached the vendor.
        doomed = post(
            {
                "custom_recipients": "\n".join(OTHERS),
                "message_body": "Safari ya shule",
                "delivery_method": "sms",
            }
        )
        wait_until(lambda: len(simulator_recipients()) >= 2, 30, "the SMS never started")
        assert api.delete(f"bulk-messages/{doomed['id']}/").status_code == 204
        reached_at_delete = len(simulator_recipients()) - 1
        wait_until(
            lambda: (
                not Message.objects.filter(
                    campaign_id=doomed["campaign_id"], status__in=MESSAGE_PENDING
                ).exists()
            ),
            30,
            "messages were left waiting after the delete",
        )
        # At most one request can have been on its way when the delete landed.
        reached = len(simulator_recipients()) - 1
        assert reached <= reached_at_delete + 1 < len(OTHERS)
        cancelled = Message.objects.filter(campaign_id=doomed["campaign_id"], status="cancelled")
        assert cancelled.count() == len(OTHERS) - reached
        assert api.get(f"bulk-messages/{doomed['id']}/").status_code == 404

        # The rate limit (60/m) spaced them a second apart at the vendor.
        moments = sorted(
            m["received_at"] for m in simulator_messages() if m["text"] == "Safari ya shule"
        )
        assert all(b - a >= 0.95 for a, b in itertools.pairwise(moments)), moments
        stats = httpx.get(f"{sim_url}/_simulator/stats?window=60", timeout=10).json()
        assert stats["duplicate_messages"] == 0
        assert stats["max_messages_in_window"] <= 60
    finally:
        for process in reversed(processes):
            stop_process(process)
