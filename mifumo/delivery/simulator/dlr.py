"""Delivery reports, posted back after a delay without holding up the request handlers.

Handlers only push a due time and a prepared request onto a heap; a dispatcher moves due
reports to a queue that a fixed number of sender tasks drain, so a slow or dead callback
receiver costs the vendor endpoints nothing but a bounded amount of memory. A report the
receiver refuses with 5xx or cannot take (connection refused) is retried a few times, as the
vendors do; past `max_pending` waiting reports, new ones are dropped and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

logger = logging.getLogger(__name__)

RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0)  # seconds before the 2nd, 3rd, ... attempt


@dataclass(slots=True)
class Report:
    vendor: str
    method: str  # GET (query parameters) or POST
    url: str
    query: dict[str, str] | None = None
    form: dict[str, str] | None = None
    json: dict[str, Any] | None = None
    headers: dict[str, str] | None = None
    attempt: int = 0
    generation: int = 0


class DeliveryReportSender:
    def __init__(self, *, concurrency: int = 32, max_pending: int = 200_000) -> None:
        self.concurrency = concurrency
        self.max_pending = max_pending
        self._heap: list[tuple[float, int, Report]] = []
        self._order = itertools.count()
        self._generation = 0
        self._wake: asyncio.Event | None = None
        self._queue: asyncio.Queue[Report] | None = None
        self._tasks: list[asyncio.Task] = []
        self._session: aiohttp.ClientSession | None = None
        self.errors: deque[str] = deque(maxlen=20)
        self.reset_counters()

    def reset_counters(self) -> None:
        self.sent = self.failed = self.retried = self.dropped = 0

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._queue = asyncio.Queue()
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=10),
            connector=aiohttp.TCPConnector(limit=self.concurrency),
            headers={"User-Agent": "mifumo-simulator"},
        )
        self._tasks = [asyncio.create_task(self._dispatch())] + [
            asyncio.create_task(self._work()) for _ in range(self.concurrency)
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()

    @property
    def pending(self) -> int:
        return len(self._heap) + (self._queue.qsize() if self._queue else 0)

    def schedule(self, report: Report, delay: float) -> None:
        if self.pending >= self.max_pending:
            self.dropped += 1
            return
        report.generation = self._generation
        heapq.heappush(self._heap, (time.monotonic() + delay, next(self._order), report))
        if self._wake is not None:
            self._wake.set()

    def clear(self) -> None:
        """Forget every waiting report (a reset): retries of reports in flight are dropped."""
        self._generation += 1
        self._heap.clear()
        if self._queue is not None:
            while not self._queue.empty():
                self._queue.get_nowait()
        self.errors.clear()
        self.reset_counters()

    def counters(self) -> dict[str, int]:
        return {
            "sent": self.sent,
            "failed": self.failed,
            "retried": self.retried,
            "dropped": self.dropped,
            "pending": self.pending,
        }

    async def _dispatch(self) -> None:
        assert self._wake is not None and self._queue is not None
        while True:
            if not self._heap:
                self._wake.clear()
                await self._wake.wait()
                continue
            now = time.monotonic()
            while self._heap and self._heap[0][0] <= now:
                self._queue.put_nowait(heapq.heappop(self._heap)[2])
            if self._heap:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), min(self._heap[0][0] - now, 0.5))

    async def _work(self) -> None:
        assert self._queue is not None
        while True:
            report = await self._queue.get()
            try:
                await self._post(report)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not kill the sender task
                logger.exception("delivery report to %s failed", report.url)

    async def _post(self, report: Report) -> None:
        assert self._session is not None
        url = URL(report.url, encoded=False)
        if report.query:
            url = url.update_query(report.query)
        problem = ""
        try:
            async with self._session.request(
                report.method, url, data=report.form, json=report.json, headers=report.headers
            ) as response:
                await response.read()
                if response.status < 300:
                    self.sent += 1
                    return
                problem = f"HTTP {response.status}"
                retry = response.status >= 500 or response.status in {408, 429}
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            problem = f"{type(error).__name__}: {error}"
            retry = True
        self.errors.append(f"{report.vendor} {report.method} {report.url}: {problem}")
        if retry and report.attempt < len(RETRY_DELAYS) and report.generation == self._generation:
            report.attempt += 1
            self.retried += 1
            heapq.heappush(
                self._heap,
                (time.monotonic() + RETRY_DELAYS[report.attempt - 1], next(self._order), report),
            )
            if self._wake is not None:
                self._wake.set()
        elif report.generation == self._generation:
            self.failed += 1
