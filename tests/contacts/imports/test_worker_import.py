"""A real worker (`mifumo worker` on the suite's broker) runs an import job to the end."""

from __future__ import annotations

import pytest

from mifumo.contacts.imports.models import ImportJob
from mifumo.contacts.models import Contact
from tests.contacts.imports.conftest import upload
from tests.integration.conftest import (
    MIFUMO,
    scale_out_env,
    start_process,
    stop_process,
    wait_until,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def impatient_worker(transactional_db, tmp_path):
    """A worker whose import tasks hand over after every chunk, as a slow one would."""
    log_path = tmp_path / "worker.log"
    process = start_process(
        [*MIFUMO, "worker", "--concurrency", "1", "--pool", "solo", "--without-gossip"],
        log_path,
        scale_out_env(MIFUMO_IMPORT_TASK_SECONDS="0"),
    )
    try:
        wait_until(
            lambda: "ready." in log_path.read_text() or process.poll() is not None,
            60,
            "the worker did not start",
        )
        assert process.poll() is None, log_path.read_text()
        yield log_path
    finally:
        stop_process(process)


def test_a_worker_imports_a_job_over_several_tasks(impatient_worker, alice_client, tenant_a):
    rows = "name,phone\n" + "".join(f"Mzazi {i},+2557124{i:05d}\n" for i in range(12_000))
    rows += "Bad,12\n"
    response = alice_client.post(
        "/api/messaging/contacts/imports/",
        {"file": upload("wazazi.csv", rows.encode())},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    job_id = response.json()["id"]

    def finished():
        job = ImportJob.objects.get(pk=job_id)
        return job if job.is_finished else None

    job = wait_until(finished, 90, "the worker never finished the import")
    assert job.status == "completed", (job.error, impatient_worker.read_text()[-3000:])
    assert (job.rows_processed, job.imported, job.failed) == (12_001, 12_000, 1)
    assert Contact.objects.filter(tenant=tenant_a).count() == 12_000
    # Three chunks of 5,000 rows, one task each: each queued the next.
    assert impatient_worker.read_text().count("run_import_job") >= 3
