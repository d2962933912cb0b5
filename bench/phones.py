"""normalize_phone() per number, with and without its fast path.

A benchmark, not a test: it prints µs per number, the median of --runs runs over 10,000
numbers, for normalize_phone() and for the phonenumbers path alone (_normalize_phone_slow).
The time is the process's CPU time, so other jobs on a shared machine do not inflate it;
on an idle machine the wall-clock time is the same.

    .venv/bin/python bench/phones.py
    .venv/bin/python bench/phones.py --runs 9

Sets, all read for a Tanzanian tenant:
- e164: "+2557xxxxxxxx", Tanzanian mobiles in E.164.
- local: "07xxxxxxxx", the same as typed in Tanzania.
- mixed: what a school's spreadsheet holds: 35% E.164, 30% local, 10% local with spaces,
  5% each "2557..." (no plus), "002557...", "712 345 678" (no 0), Kenyan E.164, and invalid
  numbers (too short, or 09... which Tanzania does not use), which are refused with a reason.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mifumo.contacts.phones import InvalidPhone, _normalize_phone_slow, normalize_phone

COUNT = 10_000
REGION = "TZ"


def _mixed(rng: random.Random) -> list[str]:
    shapes = (
        [lambda n: f"+2557{n}"] * 7
        + [lambda n: f"07{n}"] * 6
        + [lambda n: f"07{n[:2]} {n[2:5]} {n[5:]}"] * 2
        + [
            lambda n: f"2557{n}",
            lambda n: f"002557{n}",
            lambda n: f"7{n[:2]} {n[2:5]} {n[5:]}",
            lambda n: f"+2547{n}",
            lambda n: rng.choice((f"07{n[:5]}", f"09{n}")),
        ]
    )
    return [rng.choice(shapes)(f"{rng.randrange(10**8):08d}") for _ in range(COUNT)]


def _sets() -> dict[str, list[str]]:
    rng = random.Random(7)
    return {
        "e164": [f"+2557{rng.randrange(10**8):08d}" for _ in range(COUNT)],
        "local": [f"07{rng.randrange(10**8):08d}" for _ in range(COUNT)],
        "mixed": _mixed(rng),
    }


def _run(function, numbers: list[str]) -> float:
    """CPU µs per number for one pass."""
    started = time.process_time()
    for number in numbers:
        # try/except, not contextlib.suppress: a context manager per number costs 0.3 µs.
        try:  # noqa: SIM105
            function(number, REGION)
        except InvalidPhone:
            pass
    return (time.process_time() - started) / len(numbers) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    sets = _sets()
    for numbers in sets.values():  # compile the patterns and load the metadata once
        _run(normalize_phone, numbers[:100])
        _run(_normalize_phone_slow, numbers[:100])
    print(f"CPU µs per number, median of {args.runs} runs of {COUNT:,} numbers (TZ tenant)")
    print(f"{'set':<8}{'normalize_phone':>17}{'phonenumbers only':>19}{'speed-up':>10}")
    for name, numbers in sets.items():
        fast = statistics.median(_run(normalize_phone, numbers) for _ in range(args.runs))
        slow = statistics.median(_run(_normalize_phone_slow, numbers) for _ in range(args.runs))
        print(f"{name:<8}{fast:>17.1f}{slow:>19.1f}{slow / fast:>9.1f}x")


if __name__ == "__main__":
    main()
