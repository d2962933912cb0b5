"""The simulator's HTTP server: the vendors' endpoints on one port, and the control API.

One asyncio event loop (aiohttp) serves every connection with keep-alive; nothing blocks it:
records are appended in memory, delivery reports are queued for the sender tasks, latency
is an `asyncio.sleep`. Measured throughput is in the package docstring.
"""

from __future__ import annotations

import asyncio
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web

from mifumo.delivery.simulator.config import SimulatorConfig
from mifumo.delivery.simulator.dlr import DeliveryReportSender, Report
from mifumo.delivery.simulator.store import VENDORS, MessageStore
from mifumo.delivery.simulator.vendors import VENDOR_CLASSES, Vendor

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_REQUEST_BYTES = 16 * 1024 * 1024  # a 10,000-recipient Beem request is ~600 KB


class Simulator:
    def __init__(self, config: SimulatorConfig | None = None, *, seed: int | None = None):
        self.config = config or SimulatorConfig()
        self.store = MessageStore()
        self.dlr = DeliveryReportSender()
        self.rng = random.Random(seed)  # noqa: S311 - simulated faults, not secrets
        self.started_at = time.time()
        self.requests: Counter[tuple[str, str, int]] = Counter()  # (vendor, action, status)
        self.dropped = 0

    # --- used by the vendors ----------------------------------------------------------------

    def record(
        self,
        vendor: str,
        recipients: Sequence[str],
        text: str,
        sender: str,
        references: Sequence[str | None] | None = None,
    ) -> tuple[int, int]:
        """Keep one record per recipient; (position of the first, the request's id)."""
        request_id = self.store.next_request_id()
        first = self.store.add(
            vendor, recipients, text, sender, time.time(), request_id, references
        )
        return first, request_id

    def delivered(self) -> bool:
        return not self._chance(self.config.dlr_failure_rate)

    def callback_url(self, vendor: str, per_request: str | None = None) -> str:
        if per_request:
            return per_request
        return self.config.callback_url.replace("{vendor}", vendor)

    def schedule_report(self, report: Report) -> None:
        self.dlr.schedule(report, self.config.dlr_delay_ms / 1000)

    def _chance(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate

    # --- the vendors' endpoints ---------------------------------------------------------------

    def _vendor_endpoint(self, vendor: Vendor, action: str) -> Handler:
        answer = vendor.send if action == "send" else vendor.balance

        async def handle(request: web.Request) -> web.StreamResponse:
            config, drop = self.config, False
            if config.is_down():
                response = web.Response(status=503, text="503 Service Unavailable")
            elif not config.accepts_key(vendor.credentials(request) or ""):
                response = vendor.unauthorized()
            elif action == "send" and self._chance(config.rate_429):
                response = vendor.throttled(config.retry_after)
            elif action == "send" and self._chance(config.failure_rate):
                response = vendor.failed()
            else:
                drop = action == "send" and self._chance(config.drop_rate)
                response = await answer(self, request)
            self.requests[(vendor.name, action, response.status)] += 1
            if config.latency_ms:
                await asyncio.sleep(config.latency_ms / 1000)
            if drop and response.status < 300 and request.transport is not None:
                # Recorded, then no answer: the client cannot tell whether it was sent.
                self.dropped += 1
                request.transport.abort()
            return response

        return handle

    # --- the control API ----------------------------------------------------------------------

    async def _messages(self, request: web.Request) -> web.Response:
        query = request.query
        vendor = query.get("vendor")
        if vendor is not None and vendor not in VENDORS:
            return _bad_request(f"vendor must be one of {list(VENDORS)}")
        try:
            offset = int(query.get("offset", 0))
            limit = int(query["limit"]) if "limit" in query else None
        except ValueError:
            return _bad_request("offset and limit must be integers")
        count, results = self.store.records(
            vendor=vendor, recipient=query.get("recipient"), offset=offset, limit=limit
        )
        return web.json_response({"count": count, "results": results})

    async def _stats(self, request: web.Request) -> web.Response:
        query = request.query
        vendor = query.get("vendor")
        if vendor is not None and vendor not in VENDORS:
            return _bad_request(f"vendor must be one of {list(VENDORS)}")
        try:
            window = float(query.get("window", 60))
        except ValueError:
            return _bad_request("window must be a number of seconds")
        per_recipient = query.get("per_recipient", "1") not in {"0", "false", "no"}
        stats = self.store.stats(vendor=vendor, window=window, per_recipient=per_recipient)
        requests: dict[str, Any] = {}
        for (name, action, status), seen in sorted(self.requests.items()):
            requests.setdefault(name, {}).setdefault(action, {})[str(status)] = seen
        stats["requests"] = requests
        stats["dropped_connections"] = self.dropped
        stats["delivery_reports"] = {**self.dlr.counters(), "last_errors": list(self.dlr.errors)}
        stats["uptime_seconds"] = time.time() - self.started_at
        return web.json_response(stats)

    async def _reset(self, request: web.Request) -> web.Response:
        self.store.reset()
        self.dlr.clear()
        self.requests.clear()
        self.dropped = 0
        return web.json_response({"ok": True})

    async def _get_config(self, request: web.Request) -> web.Response:
        return web.json_response(self.config.as_dict())

    async def _set_config(self, request: web.Request) -> web.Response:
        try:
            changes = await request.json()
            if not isinstance(changes, dict):
                raise ValueError("the body must be a JSON object")
            self.config.update(changes)
        except ValueError as error:
            return _bad_request(str(error))
        return web.json_response(self.config.as_dict())

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "vendors": list(VENDORS)})

    # --- assembly -----------------------------------------------------------------------------

    def application(self) -> web.Application:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        for vendor_class in VENDOR_CLASSES:
            vendor = vendor_class()
            app.router.add_post(vendor.send_path, self._vendor_endpoint(vendor, "send"))
            app.router.add_get(vendor.balance_path, self._vendor_endpoint(vendor, "balance"))
        app.router.add_get("/_simulator/health", self._health)
        app.router.add_get("/_simulator/messages", self._messages)
        app.router.add_get("/_simulator/stats", self._stats)
        app.router.add_post("/_simulator/reset", self._reset)
        app.router.add_get("/_simulator/config", self._get_config)
        app.router.add_post("/_simulator/config", self._set_config)

        async def start_reports(app: web.Application) -> None:
            await self.dlr.start()

        async def stop_reports(app: web.Application) -> None:
            await self.dlr.stop()

        app.on_startup.append(start_reports)
        app.on_cleanup.append(stop_reports)
        return app

    async def start(self, host: str, port: int) -> tuple[web.AppRunner, int]:
        """Listen; return the runner (to clean up) and the port (useful with port 0)."""
        runner = web.AppRunner(self.application(), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port, backlog=1024, reuse_address=True)
        await site.start()
        return runner, runner.addresses[0][1]


def _bad_request(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


def run(
    host: str,
    port: int,
    config: SimulatorConfig,
    *,
    seed: int | None = None,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve until SIGINT or SIGTERM (the `mifumo simulator` command)."""

    async def main() -> None:
        simulator = Simulator(config, seed=seed)
        runner, bound = await simulator.start(host, port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        shown = f"[{host}]" if ":" in host else host
        announce(f"Mifumo simulator listening on http://{shown}:{bound}")
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    asyncio.run(main())


class SimulatorThread:
    """The simulator in a background thread of this process, for tests and `mifumo serve`:

    with SimulatorThread(SimulatorConfig(latency_ms=5)) as sim:
        httpx.post(sim.url + "/v1/send", ...)
        sim.simulator.store  # what it received
    """

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int | None = None,
    ) -> None:
        self.simulator = Simulator(config, seed=seed)
        self.host, self.port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="mifumo-simulator", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SimulatorThread:
        self._thread.start()
        self._ready.wait(timeout=10)
        if self._error is not None:
            raise self._error
        if not self._ready.is_set():
            raise RuntimeError("the simulator did not start within 10 s")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)

    def __enter__(self) -> SimulatorThread:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        async def main() -> None:
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            try:
                runner, self.port = await self.simulator.start(self.host, self.port)
            except BaseException as error:
                self._error = error
                self._ready.set()
                return
            self._ready.set()
            try:
                await self._stop.wait()
            finally:
                await runner.cleanup()

        asyncio.run(main())
