"""The whole product in a browser, with real parts: sign up, import a spreadsheet of parents
through the import wizard, compose to the group it made, and watch the campaign page count the
messages delivered.

A real `mifumo worker` runs the import job and sends through `mifumo simulator` (standing in for
Arkesel), `mifumo scheduler` refreshes the counters, and the simulator's delivery reports come
back to this test's live server, which serves the pages too: the worker's MIFUMO_PUBLIC_URL
points at it, and it knows the webhook secret and the provider from this process's env."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from mifumo.delivery.models import Campaign, Message, MessageStatus
from mifumo.tenancy.models import Membership
from tests.integration.conftest import (
    MIFUMO,
    free_port,
    scale_out_env,
    start_process,
    stop_process,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WEBHOOK_SECRET = "journey-webhook-secret"
PARENTS_CSV = (
    "Name,Phone,Group\n"
    "Asha Juma,0712345601,Wazazi Form 2B\n"
    "Baraka Mushi,0754345602,Wazazi Form 2B\n"
    "Namba Mbaya,12,Wazazi Form 2B\n"
    "Chausiku Ally,0765345603,Wazazi Form 2B\n"
    "Daudi Kimaro,0689345604,Wazazi Form 2B\n"
)


def _get(url: str):
    try:
        return httpx.get(url, timeout=5)
    except httpx.HTTPError:
        return None


@pytest.fixture
def simulator_stack(transactional_db, live_server, tmp_path, monkeypatch, settings):
    """Simulator, scheduler and one worker sharing the test database; yields the simulator's
    URL. This process (the live server) is the delivery-report callback target."""
    monkeypatch.setenv("ARKESEL_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("ARKESEL_SENDER_ID", "SHULE")
    settings.SMS_PROVIDER = "arkesel"
    sim_url = f"http://127.0.0.1:{free_port()}"
    env = scale_out_env(
        SMS_PROVIDER="arkesel",
        ARKESEL_BASE_URL=sim_url,
        ARKESEL_API_KEY="journey",
        ARKESEL_SENDER_ID="SHULE",
        ARKESEL_WEBHOOK_SECRET=WEBHOOK_SECRET,
        MIFUMO_PUBLIC_URL=live_server.url,
        MIFUMO_DISPATCH_TIME_BUDGET="2",
        MIFUMO_DISPATCH_IDLE_SECONDS="3",
    )
    processes = []
    try:
        port = sim_url.rsplit(":", 1)[1]
        argv = [*MIFUMO, "simulator", "--port", port, "--dlr-delay-ms", "200"]
        processes.append(start_process(argv, tmp_path / "simulator.log", env))
        wait_until(lambda: _get(f"{sim_url}/_simulator/health"), 30, "no simulator")
        processes.append(start_process([*MIFUMO, "scheduler"], tmp_path / "scheduler.log", env))
        worker_log = tmp_path / "worker.log"
        worker = [*MIFUMO, "worker", "--concurrency", "1", "--pool", "solo", "--without-gossip"]
        processes.append(start_process(worker, worker_log, env))
        wait_until(
            lambda: "ready." in worker_log.read_text() or processes[-1].poll() is not None,
            60,
            "the worker did not start",
        )
        assert processes[-1].poll() is None, worker_log.read_text()
        yield sim_url
    finally:
        for process in reversed(processes):
            stop_process(process)


def test_sign_up_import_parents_send_to_their_group_and_see_them_delivered(
    simulator_stack, page, tmp_path
):
    # Sign up.
    page.goto("/signup/")
    page.get_by_label("Organisation").fill("Shule ya Msingi Mbezi")
    page.get_by_label("Your name").fill("Asha Mwalimu")
    page.get_by_label("Email").fill("mkuu@mbezi.sc.tz")
    page.get_by_label("Password").fill("kalamu-ya-bluu-2026")
    page.get_by_label("Country").select_option("TZ")
    page.get_by_role("button", name="Create and sign in").click()
    expect(page.get_by_test_id("tenant-name")).to_have_text("Shule ya Msingi Mbezi")
    tenant = Membership.objects.get(user__email="mkuu@mbezi.sc.tz").tenant

    # Import a spreadsheet of parents: the worker runs the job while the page shows progress.
    sheet = tmp_path / "wazazi.csv"
    sheet.write_text(PARENTS_CSV)
    page.get_by_role("link", name="Import a spreadsheet").click()
    page.get_by_label("File").set_input_files(str(sheet))
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.get_by_label("Column “Phone”")).to_have_value("phone")
    expect(page.get_by_label("Column “Group”")).to_have_value("groups")
    page.get_by_role("button", name="Import 5 rows").click()
    expect(page.get_by_role("heading", name="Import finished")).to_be_visible(timeout=60_000)
    expect(page.get_by_test_id("count-created")).to_have_text("4")
    expect(page.get_by_test_id("count-failed")).to_have_text("1")

    # Compose to the group the import made.
    page.get_by_test_id("send-button").click()
    page.get_by_label("Wazazi Form 2B").check()
    with page.expect_response("**/compose/estimate/"):
        page.get_by_label("Message", exact=True).fill(
            "Habari {{first_name}}, mkutano wa wazazi ni Jumamosi saa nne."
        )
    expect(page.get_by_test_id("recipients")).to_have_text("4")
    expect(page.get_by_test_id("encoding")).to_have_text("GSM-7")
    expect(page.get_by_label("Sender id", exact=True)).to_contain_text("SHULE (default)")
    page.get_by_role("button", name="Send now").click()

    # The campaign page follows the sending, then the delivery reports.
    expect(page.get_by_test_id("count-delivered")).to_have_text("4", timeout=90_000)
    expect(page.get_by_test_id("campaign-status")).to_have_text("Completed")
    expect(page.get_by_test_id("campaign-progress")).to_have_text("4 of 4 sent or finished")
    log = page.get_by_test_id("message-row")
    expect(log.filter(has_text="Delivered")).to_have_count(4, timeout=15_000)
    expect(log.filter(has_text="Asha Juma")).to_contain_text("+255712345601")

    campaign = Campaign.objects.get(tenant=tenant)
    assert (campaign.origin, campaign.sender_id) == ("dashboard", "SHULE")
    messages = dict(Message.objects.filter(campaign=campaign).values_list("to", "body"))
    assert messages["+255712345601"] == "Habari Asha, mkutano wa wazazi ni Jumamosi saa nne."
    assert len(messages) == 4
    assert set(campaign.messages.values_list("status", "provider")) == {
        (MessageStatus.DELIVERED, "arkesel")
    }
    stats = httpx.get(f"{simulator_stack}/_simulator/stats", timeout=10).json()
    assert stats["unique_recipients"] == 4 and stats["duplicate_messages"] == 0
