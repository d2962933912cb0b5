"""How many recipients a second `mifumo simulator` takes, per vendor request shape.

A benchmark, not a test: it prints figures. The simulator runs as its own process (the
`mifumo simulator` command, as benchmarks of the engine use it); this process drives it with
keep-alive connections through aiohttp's client, shaped as the adapters send: Beem 200
recipients a request, Arkesel 500, Africa's Talking 100 (comma-separated), Twilio one.
Client and server share the machine, so recipients/s is a floor for the server alone; the
simulator's own CPU seconds give what one core of it can take ("/CPU-s").

    .venv/bin/python bench/simulator_throughput.py [--recipients 50000] [--concurrency 16]
        [--reports]   # also post a delivery report per recipient to a receiver process
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import psutil

ROOT = Path(__file__).resolve().parent.parent
BASIC = "Basic " + base64.b64encode(b"key:secret").decode()
TWILIO = "Basic " + base64.b64encode(b"ACbench:token").decode()


def requests_for(vendor: str, numbers: list[str]):
    """(method, path, kwargs) per request, carrying `numbers` between them."""
    if vendor == "beem":
        for start in range(0, len(numbers), 200):
            chunk = numbers[start : start + 200]
            recipients = [{"recipient_id": str(i), "dest_addr": n} for i, n in enumerate(chunk)]
            body = {"source_addr": "BENCH", "encoding": 0, "schedule_time": "", "message": "Hi"}
            yield (
                "/v1/send",
                {
                    "json": {**body, "recipients": recipients},
                    "headers": {"Authorization": BASIC},
                },
            )
    elif vendor == "arkesel":
        for start in range(0, len(numbers), 500):
            body = {"sender": "BENCH", "message": "Hi", "recipients": numbers[start : start + 500]}
            yield "/api/v2/sms/send", {"json": body, "headers": {"api-key": "key"}}
    elif vendor == "africastalking":
        for start in range(0, len(numbers), 100):
            to = ",".join("+" + n for n in numbers[start : start + 100])
            form = {"username": "bench", "to": to, "message": "Hi", "bulkSMSMode": "1"}
            headers = {"apiKey": "key", "Accept": "application/json"}
            yield "/version1/messaging", {"data": form, "headers": headers}
    else:
        for number in numbers:
            form = {"To": "+" + number, "From": "+15005550006", "Body": "Hi"}
            path = "/2010-04-01/Accounts/ACbench/Messages.json"
            yield path, {"data": form, "headers": {"Authorization": TWILIO}}


async def drive(base: str, vendor: str, count: int, concurrency: int) -> float:
    numbers = [f"2557{index:08d}" for index in range(count)]
    work = iter(list(requests_for(vendor, numbers)))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base, connector=connector) as session:

        async def worker() -> None:
            for path, kwargs in work:
                async with session.post(path, **kwargs) as response:
                    await response.read()
                    assert response.status < 300, (response.status, await response.text())

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


def receive_reports(port: int) -> None:
    """A callback receiver in its own process: answers 200 to everything."""
    from aiohttp import web

    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", ok)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def main(count: int, concurrency: int, reports: bool) -> None:
    options = ["--port", "0", "--dlr-delay-ms", "0"]
    receiver = None
    if reports:
        import multiprocessing
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        receiver = multiprocessing.Process(target=receive_reports, args=(port,), daemon=True)
        receiver.start()
        options += ["--callback-url", f"http://127.0.0.1:{port}/{{vendor}}"]
    server = subprocess.Popen(
        [sys.executable, "-m", "mifumo.cli", "simulator", *options],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        port = re.search(r":(\d+)$", server.stdout.readline().strip()).group(1)
        base = f"http://127.0.0.1:{port}"
        process = psutil.Process(server.pid)
        print(f"{os.cpu_count()} CPUs; {count} recipients per vendor; {concurrency} connections")
        for vendor in ("beem", "arkesel", "africastalking", "twilio"):
            async with aiohttp.ClientSession() as control:
                await control.post(base + "/_simulator/reset")
            cpu_before = sum(process.cpu_times()[:2])
            elapsed = await drive(base, vendor, count, concurrency)
            cpu = sum(process.cpu_times()[:2]) - cpu_before
            async with (
                aiohttp.ClientSession() as control,
                control.get(base + "/_simulator/stats?per_recipient=0") as response,
            ):
                stats = await response.json()
            assert stats["messages"] == count and stats["duplicate_messages"] == 0, stats
            rss = process.memory_info().rss / 2**20
            line = (
                f"{vendor:15} {count / elapsed:9,.0f} recipients/s"
                f"   simulator CPU {cpu:5.2f} s ({count / cpu:9,.0f}/CPU-s)   RSS {rss:.0f} MB"
            )
            if reports:
                waiting = stats["delivery_reports"]["pending"]
                line += f"   delivery reports sent {stats['delivery_reports']['sent']:,}"
                line += f", waiting {waiting:,}"
            print(line)
    finally:
        server.terminate()
        server.wait(timeout=10)
        if receiver is not None:
            receiver.terminate()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=50_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--reports", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.recipients, args.concurrency, args.reports))
