"""A small school in tenant A, an Arkesel stand-in (a real local HTTP server), a real SMTP
server, and a helper that does what the workers do."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
from aiosmtpd.controller import Controller

from mifumo.contacts.models import Contact, Group, GroupKind
from mifumo.delivery import dispatch
from mifumo.delivery.models import MESSAGE_PENDING, Message
from tests.delivery.conftest import FakeVendor
from tests.delivery.test_smtp import MailServer, free_port
from tests.factories import create_contact, create_group

URL = "/api/communications/bulk-messages/"
GROUPS_URL = "/api/communications/recipient-groups/"
ARKESEL_KEY = "ark-test-key"
ARKESEL_SENDER = "SHULE"


def detail(pk) -> str:
    return f"{URL}{pk}/"


@dataclass
class School:
    """Tenant A's people. Phones are E.164; `None` e-mail means the contact has none."""

    groups: dict[str, Group]
    people: dict[str, Contact]

    def phone(self, name: str) -> str:
        return self.people[name].phone_e164

    def phones(self, *names: str) -> set[str]:
        return {self.phone(name) for name in names}


@pytest.fixture
def school(tenant_a) -> School:
    groups = {
        name: create_group(tenant_a, name, kind=GroupKind.SYSTEM)
        for name in ("All Students", "All Parents", "All Teachers", "All Staff")
    }
    groups["Form 2B"] = create_group(tenant_a, "Form 2B", kind=GroupKind.CLASS)
    groups["Form 1A"] = create_group(tenant_a, "Form 1A", kind=GroupKind.CLASS)
    groups["Kwaya"] = create_group(tenant_a, "Kwaya")

    def person(name, phone, email="", groups_of=(), guardians=()):
        return create_contact(
            tenant_a,
            name=name,
            phone=phone,
            email=email,
            group_ids=[groups[g].pk for g in groups_of],
            guardian_ids=[p.pk for p in guardians],
        )

    people = {}
    people["Juma Ally"] = person("Juma Ally", "0754000001", "juma@example.org", ["All Parents"])
    people["Mama Chausiku"] = person("Mama Chausiku", "0754000003", "", ["All Parents"])
    people["Asha Juma"] = person(
        "Asha Juma",
        "0712000001",
        "asha@students.example",
        ["All Students", "Form 2B", "Kwaya"],
        [people["Juma Ally"]],
    )
    people["Baraka Juma"] = person(
        "Baraka Juma", "0712000002", "", ["All Students", "Form 2B"], [people["Juma Ally"]]
    )
    people["Chausiku Ally"] = person(
        "Chausiku Ally",
        "0712000003",
        "chausiku@students.example",
        ["All Students", "Form 1A"],
        [people["Mama Chausiku"]],
    )
    people["Mwalimu Neema"] = person(
        "Mwalimu Neema", "0712000009", "neema@staff.example", ["All Teachers", "Kwaya"]
    )
    people["Mlinzi Hamisi"] = person("Mlinzi Hamisi", "0712000010", "", ["All Staff"])
    return School(groups=groups, people=people)


class TimedRequests(list):
    """The vendor's request log, with when each request arrived (monotonic seconds)."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def append(self, item) -> None:
        self.times.append(time.monotonic())
        super().append(item)


@pytest.fixture
def arkesel(settings, monkeypatch):
    """The platform's SMS account is Arkesel, pointed at a local stand-in that records every
    request. No rate limit unless a test sets ARKESEL_RATE_LIMIT."""
    vendor = FakeVendor()
    vendor.requests = TimedRequests()
    settings.SMS_PROVIDER = "arkesel"
    monkeypatch.setenv("ARKESEL_BASE_URL", vendor.url)
    monkeypatch.setenv("ARKESEL_API_KEY", ARKESEL_KEY)
    monkeypatch.setenv("ARKESEL_SENDER_ID", ARKESEL_SENDER)
    monkeypatch.delenv("ARKESEL_WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("ARKESEL_RATE_LIMIT", raising=False)
    yield vendor
    vendor.stop()


def arkesel_accepts(vendor: FakeVendor, phones, times: int = 1) -> None:
    """Script `times` answers, each accepting every one of `phones` (an answer may list more
    recipients than its request had: the adapter reads those it sent)."""
    for _ in range(times):
        vendor.reply(
            json={
                "status": "success",
                "data": [
                    {"recipient": phone.lstrip("+"), "id": f"ark-{phone.lstrip('+')}"}
                    for phone in sorted(phones)
                ],
            }
        )


@pytest.fixture
def mail_server(monkeypatch):
    """A real SMTP server (aiosmtpd) as the platform's e-mail account."""
    handler = MailServer()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    monkeypatch.setenv("SMTP_BASE_URL", f"smtp://127.0.0.1:{controller.port}?timeout=5")
    yield handler
    controller.stop()


def pending_messages(campaign_id) -> int:
    return Message.objects.filter(campaign_id=campaign_id, status__in=MESSAGE_PENDING).count()


def send_all(campaign_id, *, rounds: int = 50) -> None:
    """Do what the workers do: dispatch the campaign until none of its messages is waiting,
    sleeping when the engine hands messages back for later (rate limit, retries)."""
    deadline = time.monotonic() + 60
    for _ in range(rounds):
        outcome = dispatch.dispatch(campaign_id)
        if not pending_messages(campaign_id):
            return
        if time.monotonic() > deadline:
            break
        time.sleep(min(outcome.requeue_in or 0.05, 5))
    raise AssertionError("the campaign never finished sending")
