"""How fast the delivery engine sends one big campaign with no rate limit.

A benchmark, not a test: it prints figures. 50,000 messages, one campaign, one text, to a
multi-recipient vendor (Beem by default, or Arkesel) at the simulator (`mifumo simulator`, no
latency, no delivery reports), dispatched by real `mifumo worker` processes with `mifumo
scheduler` running, on PostgreSQL + Redis and embedded (SQLite + private Redis). Goals (issue
4): >= 2,000 messages/s with PostgreSQL + Redis, >= 1,000/s embedded, on 2 cores, with every
message's status recorded and every recipient seen exactly once by the simulator.

Processes: by default one `mifumo worker --concurrency 2` (two prefork children). A campaign
is dispatched by one task at a time, which re-queues itself every MIFUMO_DISPATCH_TIME_BUDGET
seconds so campaigns take turns; the second child is what another tenant's campaign would
get. The simulator, PostgreSQL, Redis, the scheduler and this process share the two cores.
Each run starts from an empty database and Redis, in a process of its own.

Figures per run:
  at simulator   messages / (last received - first received)
  to completed   messages / (campaign seen `completed` - first received), the figure the
                 goal is about: every message's outcome is written by then
  accept         campaign_accept's own time (one transaction, bulk inserts), for reference

    .venv/bin/python bench/delivery_throughput.py [--mode pg|embedded|both] [--runs 2]
        [--messages 50000] [--vendor beem|arkesel] [--workers 1] [--concurrency 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from delivery_harness import Stack, accept_campaign, machine, median, run_children

GOALS = {"pg": 2000.0, "embedded": 1000.0}


def one_run(args: argparse.Namespace, run: int) -> dict:
    with Stack(args.mode, vendor=args.vendor) as stack:
        stack.prepare()
        stack.start_simulator()
        stack.start_workers(args.workers, args.concurrency)
        stack.start_scheduler()

        from django.db.models import Count

        from mifumo.delivery.models import Campaign, Message, MessageStatus

        cpu_before = stack.cpu_snapshot()
        campaign, accept_seconds = accept_campaign(
            args.messages, vendor=args.vendor, name=f"throughput {run}"
        )
        accepted_at = time.time()
        deadline = time.monotonic() + args.timeout
        status = ""
        while time.monotonic() < deadline:
            status = Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True)[0]
            if status in {"completed", "failed", "cancelled", "paused"}:
                break
            time.sleep(0.02)
        completed_at = time.time()
        cpu = stack.cpu_used(cpu_before, stack.cpu_snapshot())
        stats = stack.simulator_stats()
        counts = dict(
            Message.objects.filter(campaign=campaign).values_list("status").annotate(n=Count("id"))
        )
        if status != "completed":
            print(stack.log_tail("worker0"), file=sys.stderr)
    first, last = stats["first_received_at"], stats["last_received_at"]
    messages = stats["messages"]
    sim_span = (last - first) if first and last else float("nan")
    done_span = completed_at - first if first else float("nan")
    result = {
        "status": status,
        "accept_s": accept_seconds,
        "first_after_accept_s": (first - accepted_at) if first else float("nan"),
        "sim_rate": messages / sim_span if sim_span else float("nan"),
        "done_rate": messages / done_span if done_span else float("nan"),
        "sim_span": sim_span,
        "done_span": done_span,
        "messages": messages,
        "unique": stats["unique_recipients"],
        "duplicates": stats["duplicate_messages"],
        "sent": counts.get(MessageStatus.SENT, 0),
        "counts": counts,
        "requests": stats["requests"],
        "cpu": cpu,
    }
    ok = (
        status == "completed"
        and messages == args.messages
        and result["unique"] == args.messages
        and result["duplicates"] == 0
        and result["sent"] == args.messages
    )
    result["ok"] = ok
    print(
        f"run {run}: {result['done_rate']:,.0f} msg/s to completed ({done_span:.1f} s), "
        f"{result['sim_rate']:,.0f} msg/s at simulator ({sim_span:.1f} s); "
        f"accept {accept_seconds:.1f} s, first message {result['first_after_accept_s']:.2f} s "
        f"after campaign_accept returned; simulator: {messages} messages, "
        f"{result['unique']} unique, "
        f"{result['duplicates']} duplicates; statuses {counts}; campaign {status}; "
        f"CPU s {', '.join(f'{k} {v:.1f}' for k, v in cpu.items())}; "
        f"{'OK' if ok else 'FAILED CHECKS'}",
        flush=True,
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["pg", "embedded", "both"], default="both")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--vendor", choices=["beem", "arkesel"], default="beem")
    parser.add_argument("--workers", type=int, default=1, help="`mifumo worker` processes")
    parser.add_argument("--concurrency", type=int, default=2, help="pool size of each worker")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per run, at most")
    parser.add_argument("--child-run", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_run:
        result = one_run(args, args.child_run)
        print("RESULT " + json.dumps({"run": args.child_run, **result}, default=str), flush=True)
        return 0
    status = 0
    for mode in ["pg", "embedded"] if args.mode == "both" else [args.mode]:
        print(
            f"\n=== {mode}: {machine()}; {args.messages:,} messages via {args.vendor}; "
            f"{args.workers} worker process(es) x concurrency {args.concurrency}",
            flush=True,
        )
        results = run_children(Path(__file__).resolve(), mode, args.runs, sys.argv[1:])
        done = median([r["done_rate"] for r in results if "done_rate" in r])
        sim = median([r["sim_rate"] for r in results if "sim_rate" in r])
        all_ok = len(results) == args.runs and all(r["ok"] for r in results)
        goal = GOALS[mode]
        runs = ", ".join(f"{r.get('done_rate', 0):,.0f}" for r in results)
        print(
            f"{mode}: median of {len(results)} runs: {done:,.0f} msg/s to completed "
            f"(runs: {runs}), "
            f"{sim:,.0f} msg/s at the simulator; goal >= {goal:,.0f}/s "
            f"{'met' if done >= goal else 'MISSED'}; every recipient exactly once and every "
            f"status recorded: {'yes' if all_ok else 'NO'}",
            flush=True,
        )
        status = status or (0 if all_ok else 1)
    return status


if __name__ == "__main__":
    sys.exit(main())
