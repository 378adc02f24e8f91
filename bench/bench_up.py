"""Benchmark: ``ventes up`` and ``ventes down`` of the whole local stack, side by side against
one service after another, in the same run.

Each contender starts the five services (Kafka, the Thrift server, the Bronze streaming job, the
dashboard, Airflow) in a fresh process from a fresh VENTES_HOME on reserved loopback ports,
until each answers, then stops them: ``side-by-side`` is ``ventes up`` and ``ventes down``;
``one-by-one`` starts and stops the same services one after another, in the stack's order, as
``ventes up`` did before. Contenders alternated, ``--runs`` each, medians and min..max.

    .venv/bin/python bench/bench_up.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.fresh_process import run_child

CONTENDERS = ("side-by-side", "one-by-one")


def child(contender: str) -> dict[str, float]:
    """Start then stop the stack in this fresh process; seconds for each."""
    from stack import processes
    from ventes import settings as settings_module

    settings = settings_module.load()
    settings.make_home()
    begin = time.monotonic()
    try:
        if contender == "side-by-side":
            processes.up(settings, echo=lambda line: None)
        else:
            processes.jars.ensure_jars(settings)
            for svc in processes.SERVICES:
                processes.start(settings, svc)
        started = time.monotonic()
    finally:
        stopping = time.monotonic()
        if contender == "side-by-side":
            processes.down(settings, echo=lambda line: None)
        else:
            for svc in reversed(processes.SERVICES):
                processes.stop(settings, svc.name)
    return {"up": started - begin, "down": time.monotonic() - stopping}


def run(contender: str) -> dict[str, float]:
    return run_child(__file__, "--child", contender)


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):5.1f} s ({min(values):.1f}..{max(values):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", choices=CONTENDERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    results: dict[str, list[dict[str, float]]] = {name: [] for name in CONTENDERS}
    for number in range(args.runs):
        for name in CONTENDERS:
            results[name].append(run(name))
            last = results[name][-1]
            print(f"run {number + 1} {name}: up {last['up']:.1f}s, down {last['down']:.1f}s", flush=True)
    print(f"\n{args.runs} runs each, a fresh process and VENTES_HOME each, alternated; median (min..max)")
    for name, runs in results.items():
        print(f"{name:<14} up {_spread([r['up'] for r in runs])}   down {_spread([r['down'] for r in runs])}")
    for phase in ("up", "down"):
        ratios = [s[phase] / o[phase] for s, o in zip(*results.values(), strict=True)]
        print(f"ratio side-by-side / one-by-one, {phase}: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
