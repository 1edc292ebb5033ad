"""Benchmark payload parsing: records/s for meter details and meter enrollments.

Usage: python scripts/bench_payloads.py [--meters 5000] [--seed 1] [--rounds 5]

Payloads come from the simulator's truth() and are re-decoded from JSON for every round, so each
round parses fresh dicts, as the sync does for every page. Parsing caches are module state and
stay warm between rounds (as they do during a sync); the first round shows the cold figure.
Rates are per second of this process's CPU time, so other work on the machine skews them less.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from leapsync.leap.payloads import parse_meter_details, parse_meter_enrollment
from leapsync.simulator import LeapSimulator


def rate(parse: Callable[[Any], Any], encoded: bytes) -> tuple[float, int]:
    """(records/s, warnings) for one pass over a freshly decoded list of payloads."""
    raws = msgspec.json.decode(encoded)
    gc.collect()
    began = time.process_time()
    records = [parse(raw) for raw in raws]
    elapsed = time.process_time() - began
    return len(raws) / elapsed, sum(len(record.warnings) for record in records)


def main() -> None:
    """Print cold, median and best records/s for both kinds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    truth = LeapSimulator(meters=args.meters, seed=args.seed).truth()
    kinds = {"details": parse_meter_details, "enrollment": parse_meter_enrollment}
    print(f"{args.meters} meters, seed {args.seed}, {args.rounds} rounds")
    for kind, parse in kinds.items():
        encoded = msgspec.json.encode([payloads[kind] for payloads in truth.values()])
        rates, warnings = [], 0
        for _ in range(args.rounds):
            per_second, warnings = rate(parse, encoded)
            rates.append(per_second)
        print(
            f"{kind:>10}: cold {rates[0]:>9,.0f}/s  median {statistics.median(rates):>9,.0f}/s"
            f"  best {max(rates):>9,.0f}/s  ({warnings} warnings)"
        )


if __name__ == "__main__":
    main()
