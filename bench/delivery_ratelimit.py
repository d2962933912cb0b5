"""Whether the delivery engine keeps to a vendor's rate limit, and how close it gets to it.

A benchmark, not a test: it prints figures. The platform's Beem account is limited to 100
messages a minute (`BEEM_RATE_LIMIT=100/m`); four `mifumo worker` processes and `mifumo
scheduler` send one campaign bigger than the time allows (200 messages a minute of the run)
to the simulator for `--minutes` (default 5). Goals (issue 4): no 60-second window at the
simulator holds more than 100 messages, at least 97 a minute sustained, zero 429s.

Figures per run:
  max in 60 s      the most messages the simulator received in any 60-second span
  sustained        messages received from the first one until `--minutes` later, per minute
  per minute       the same, minute by minute
  429s             answers of status 429 among the simulator's send requests (the simulator
                   does not police the limit itself: the window figure is the real check)

    .venv/bin/python bench/delivery_ratelimit.py [--minutes 5] [--mode pg|embedded] [--runs 1]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

from delivery_harness import Stack, accept_campaign, machine, median, run_children

LIMIT_PER_MINUTE = 100
GOAL_SUSTAINED = 97


def one_run(args: argparse.Namespace, run: int) -> dict:
    import httpx

    env = {"BEEM_RATE_LIMIT": f"{LIMIT_PER_MINUTE}/m"}
    with Stack(args.mode, vendor="beem", extra_env=env) as stack:
        stack.prepare()
        stack.start_simulator()
        stack.start_workers(args.workers, 1)
        stack.start_scheduler()
        cpu_before = stack.cpu_snapshot()
        size = int(args.minutes * LIMIT_PER_MINUTE * 2) + 100
        accept_campaign(size, vendor="beem", name=f"rate limit {run}")
        deadline = time.monotonic() + 60
        first = None
        while first is None and time.monotonic() < deadline:
            first = stack.simulator_stats()["first_received_at"]
            time.sleep(0.2)
        if first is None:
            raise RuntimeError("nothing reached the simulator within 60 s")
        end = first + args.minutes * 60
        while time.time() < end + 1:
            time.sleep(min(5.0, max(0.1, end + 1 - time.time())))
        stats = stack.simulator_stats(window=60)
        records = httpx.get(
            f"{stack.simulator_url}/_simulator/messages", params={"limit": size}, timeout=60
        ).json()["results"]
        cpu = stack.cpu_used(cpu_before, stack.cpu_snapshot())
    moments = sorted(r["received_at"] for r in records)
    inside = [m for m in moments if m < end]
    per_minute = [
        sum(1 for m in inside if first + 60 * i <= m < first + 60 * (i + 1))
        for i in range(int(args.minutes))
    ]
    statuses: dict[str, int] = {}
    for actions in stats["requests"].values():
        for by_status in actions.values():
            for status, seen in by_status.items():
                statuses[status] = statuses.get(status, 0) + seen
    gaps = [b - a for a, b in itertools.pairwise(moments)]
    # The closest pairs, with when they came (seconds after the first message): where the
    # spacing was squeezed, e.g. a request that left late followed by one on time.
    closest = sorted((gap, round(a - first, 2)) for gap, a in zip(gaps, moments, strict=False))
    result = {
        "messages": stats["messages"],
        "max_in_60s": stats["max_messages_in_window"],
        "sustained_per_minute": len(inside) / args.minutes,
        "per_minute": per_minute,
        "status_429": statuses.get("429", 0),
        "requests_by_status": statuses,
        "duplicates": stats["duplicate_messages"],
        "min_gap_s": min(gaps) if gaps else None,
        "max_gap_s": max(gaps) if gaps else None,
        "closest_pairs": [(round(gap, 3), at) for gap, at in closest[:3]],
        "cpu": cpu,
    }
    result["ok"] = (
        result["max_in_60s"] <= LIMIT_PER_MINUTE
        and result["sustained_per_minute"] >= GOAL_SUSTAINED
        and result["status_429"] == 0
        and result["duplicates"] == 0
    )
    print(
        f"run {run}: max in any 60 s {result['max_in_60s']} (limit {LIMIT_PER_MINUTE}); "
        f"sustained {result['sustained_per_minute']:.1f}/min over {args.minutes:g} min "
        f"(per minute {per_minute}); 429s {result['status_429']}; requests by status "
        f"{statuses}; spacing {result['min_gap_s']:.3f}-{result['max_gap_s']:.3f} s (closest "
        f"(gap, s after first): {result['closest_pairs']}); "
        f"duplicates {result['duplicates']}; CPU s "
        f"{', '.join(f'{k} {v:.1f}' for k, v in cpu.items())}; "
        f"{'OK' if result['ok'] else 'FAILED'}",
        flush=True,
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--mode", choices=["pg", "embedded", "both"], default="pg")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--workers", type=int, default=4, help="`mifumo worker` processes")
    parser.add_argument("--child-run", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_run:
        result = one_run(args, args.child_run)
        print("RESULT " + json.dumps({"run": args.child_run, **result}, default=str), flush=True)
        return 0
    status = 0
    for mode in ["pg", "embedded"] if args.mode == "both" else [args.mode]:
        print(
            f"\n=== {mode}: {machine()}; limit {LIMIT_PER_MINUTE}/min; {args.workers} worker "
            f"processes; {args.minutes:g} minutes",
            flush=True,
        )
        results = run_children(Path(__file__).resolve(), mode, args.runs, sys.argv[1:])
        ok = len(results) == args.runs and all(r["ok"] for r in results)
        most = max((r.get("max_in_60s", 0) for r in results), default=0)
        sustained = median([r["sustained_per_minute"] for r in results if "max_in_60s" in r])
        errors = sum(r.get("status_429", 0) for r in results)
        print(
            f"{mode}: {len(results)} run(s): max in any 60 s {most} (goal <= "
            f"{LIMIT_PER_MINUTE}); sustained {sustained:.1f}/min median (goal >= "
            f"{GOAL_SUSTAINED}); 429s {errors} (goal 0): {'met' if ok else 'MISSED'}",
            flush=True,
        )
        status = status or (0 if ok else 1)
    return status


if __name__ == "__main__":
    sys.exit(main())
