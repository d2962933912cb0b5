"""Mixed API traffic for bench/load.py: what a school's staff do while a big campaign sends.

Run by bench/load.py (`locust -f bench/load_locustfile.py --headless ...`). It reads the users'
access tokens and some ids from the JSON file named by MIFUMO_LOAD_CONFIG, and when the run
stops writes there (under "results") each endpoint's requests, req/s, p50/p95 and status codes.

429s are the throttles working (bulk SMS operations are limited to 5 a minute per user) and
count as answers; any 5xx, or no answer at all, is a failure.
"""

from __future__ import annotations

import itertools
import json
import os
import random
from collections import Counter
from pathlib import Path

from locust import HttpUser, between, events, task

CONFIG_PATH = Path(os.environ["MIFUMO_LOAD_CONFIG"])
CONFIG = json.loads(CONFIG_PATH.read_text())
TOKENS = itertools.cycle(CONFIG["tokens"])
STATUSES: Counter[tuple[str, int]] = Counter()  # (endpoint, HTTP status; 0: no answer)
BULK_SEND_NUMBERS = itertools.count()
TEXT = "Habari {{name}}, kikao cha wazazi ni Jumamosi saa 3 asubuhi."


class Staff(HttpUser):
    wait_time = between(0.2, 1.0)

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Bearer {next(TOKENS)}"
        self.rng = random.Random()

    def call(self, method: str, url: str, name: str, ok=(200,), **kwargs) -> None:
        with self.client.request(method, url, name=name, catch_response=True, **kwargs) as answer:
            STATUSES[(name, answer.status_code)] += 1
            if answer.status_code in ok or answer.status_code == 429:
                answer.success()
            else:
                answer.failure(f"HTTP {answer.status_code}: {answer.text[:200]}")

    def some_contacts(self, count: int) -> list[str]:
        return self.rng.sample(CONFIG["contact_ids"], count)

    @task(10)
    def contacts_list(self) -> None:
        page = self.rng.randint(1, max(1, CONFIG["contacts"] // 50))
        self.call("GET", f"/api/messaging/contacts/?page={page}&page_size=50", "contacts list")

    @task(8)
    def contacts_search(self) -> None:
        if self.rng.random() < 0.5:
            query = f"07{self.rng.randint(0, 999):03d}"  # a phone prefix, as people type it
        else:
            query = f"Mzazi {self.rng.randint(1, 999)}"
        self.call("GET", f"/api/messaging/contacts/?search={query}", "contacts search")

    @task(4)
    def contact_detail(self) -> None:
        (contact_id,) = self.some_contacts(1)
        self.call("GET", f"/api/messaging/contacts/{contact_id}/", "contact detail")

    @task(2)
    def contact_create(self) -> None:
        body = {"name": "Mzazi Mpya", "phone_e164": f"+25568{self.rng.randint(0, 10**7 - 1):07d}"}
        # 409: the random number was taken already.
        self.call("POST", "/api/messaging/contacts/", "contact create", ok=(201, 409), json=body)

    @task(5)
    def estimate(self) -> None:
        body = {"message": TEXT, "contact_ids": self.some_contacts(50)}
        self.call("POST", "/api/messaging/sms/estimate/", "sms estimate", json=body)

    @task(1)
    def bulk_send(self) -> None:
        # New numbers each time (+25565...: not the campaign's), so that the simulator's count
        # of recipients sent twice stays meaningful.
        start = next(BULK_SEND_NUMBERS) * 20
        contacts = [
            {"phone": f"+25565{start + index:07d}", "name": f"Mgeni {index}"} for index in range(20)
        ]
        body = {"contacts": contacts, "message": TEXT}
        self.call("POST", "/api/messaging/sms/bulk-send/", "sms bulk-send", json=body)

    @task(4)
    def campaigns_list(self) -> None:
        self.call("GET", "/api/messaging/campaigns/", "campaigns list")

    @task(3)
    def campaign_detail(self) -> None:
        campaign = CONFIG["campaign_id"]
        self.call("GET", f"/api/messaging/campaigns/{campaign}/", "campaign detail")

    @task(3)
    def campaign_messages(self) -> None:
        campaign, page = CONFIG["campaign_id"], self.rng.randint(1, 20)
        url = f"/api/messaging/messages/?campaign={campaign}&page={page}&page_size=50"
        self.call("GET", url, "messages list")

    @task(2)
    def imports_status(self) -> None:
        self.call("GET", "/api/messaging/contacts/imports/", "imports list")
        self.call("GET", f"/api/messaging/contacts/imports/{CONFIG['import_id']}/", "import detail")

    @task(2)
    def groups(self) -> None:
        self.call("GET", "/api/messaging/groups/", "groups list")

    @task(1)
    def me(self) -> None:
        self.call("GET", "/api/auth/me/", "auth me")


@events.quitting.add_listener
def write_results(environment, **kwargs) -> None:
    results = {}
    for (name, method), entry in sorted(environment.stats.entries.items()):
        statuses = {str(status): seen for (n, status), seen in STATUSES.items() if n == name}
        results[name] = {
            "method": method,
            "requests": entry.num_requests,
            "failures": entry.num_failures,
            "rps": entry.total_rps,
            "p50_ms": entry.get_response_time_percentile(0.5),
            "p95_ms": entry.get_response_time_percentile(0.95),
            "statuses": statuses,
        }
    CONFIG_PATH.write_text(json.dumps({**CONFIG, "results": results}))
