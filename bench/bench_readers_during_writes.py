"""Benchmark: the dashboard's API under steady load while `ventes run` rebuilds Silver.

A private VENTES_HOME with its own Kafka broker, Spark Thrift Server, Bronze streaming job and
dashboard (gunicorn, as ``ventes up`` runs it) on reserved loopback ports, all stopped and
removed at the end. One ``ventes run`` builds Silver; then client processes, each holding one
keep-alive HTTP/1.1 connection, ask ``/api/overview`` and ``/api/aggregated_sales`` in turn for
at least ``--seconds`` while ``--rebuilds`` times new sales are produced and ``ventes run``
ingests them and rebuilds every Silver table.

Prints the requests/s reached, latency percentiles, the count of 5xx and of failed connections,
the CPU the dashboard and the load generator used (the machine has few cores and the rebuilds
share them), and the consistency checks, each a count of violations:

- committed version: every answer is exactly what one committed Delta version of its table
  gives (overview: ``ventes_clean``; aggregated sales: ``ventes_aggreges``), every version of
  both tables being read back afterwards by time travel; an answer that matches none mixed two
  versions or read a half-written one;
- order: an answer that began after another answer of the same table had ended never comes
  from an older version;
- same build: an answer's ETag (a hash of its body) is matched to the versions giving it, hence
  to the build that wrote them; the sum of ``total_montant`` of every ``/api/aggregated_sales``
  ETag equals the overview's ``total_montant`` of the same build, and the other way round.

    .venv/bin/python bench/bench_readers_during_writes.py [--seconds 60] [--rebuilds 5] [--clients 8]
"""

from __future__ import annotations

import argparse
import bisect
import http.client
import json
import multiprocessing
import os
import shutil
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil

from bench.bench_cycle import private_stack, ventes
from bench.bench_dashboard import cpu_seconds, gunicorn_pids

SERVICES = ("kafka", "thrift", "bronze", "dashboard")
OVERVIEW, AGGREGATED = "/api/overview", "/api/aggregated_sales"
PATHS = (OVERVIEW, AGGREGATED)
TABLES = {OVERVIEW: "ventes_clean", AGGREGATED: "ventes_aggreges"}


# --- load generator ----------------------------------------------------------------------


def client(port: int, stop, out) -> None:
    """One keep-alive connection asking the two endpoints in turn until ``stop`` is set.

    Sends back every request as (begin, end, path index, status, ETag), the body of each ETag
    once, and its own CPU seconds.
    """
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    records: list[tuple[float, float, int, int, str]] = []
    bodies: dict[tuple[int, str], bytes] = {}
    number = 0
    while number % 64 or not stop.is_set():
        index = number % len(PATHS)
        number += 1
        begin = time.monotonic()
        try:
            conn.request("GET", PATHS[index])
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            records.append((begin, time.monotonic(), index, 0, ""))
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            continue
        end = time.monotonic()
        etag = response.getheader("ETag", "")
        records.append((begin, end, index, response.status, etag))
        if response.status == 200 and (index, etag) not in bodies:
            bodies[(index, etag)] = body
    conn.close()
    times = os.times()
    out.put((records, bodies, times.user + times.system))


# --- what each committed version answers -------------------------------------------------


def money_sum(values) -> Decimal:
    return sum((Decimal(str(v)) for v in values), Decimal(0))


def overview_answer(table) -> dict:
    """What /api/overview answers over this version of ventes_clean (the dashboard's own SQL
    and conversions, run here with deltalake on the version read back by time travel)."""
    from dashboard.queries import _OVERVIEW_COLUMNS, _overview_row
    from ventes.delta import rows

    [row] = rows(table, f"select {_OVERVIEW_COLUMNS} from t")
    return json.loads(json.dumps(_overview_row(row, None)))


def aggregated_answer(table) -> list:
    """The rows of ventes_aggreges at this version, as /api/aggregated_sales gives them."""
    from dashboard.lake import count, money
    from ventes.delta import rows

    found = rows(table, "select produit_nom, pays, total_montant, total_quantite from t")
    answer = [
        {
            "produit_nom": r["produit_nom"],
            "pays": r["pays"],
            "total_montant": money(r["total_montant"]),
            "total_quantite": count(r["total_quantite"]),
        }
        for r in found
    ]
    return sorted(answer, key=lambda r: (r["produit_nom"], r["pays"]))


def canonical(path: str, body: bytes):
    answer = json.loads(body)
    return answer if path == OVERVIEW else sorted(answer, key=lambda r: (r["produit_nom"], r["pays"]))


def committed_answers(settings, path: str) -> list:
    """What the endpoint answers at each version of its table, by version number."""
    from ventes.delta import open_table

    table_path = settings.silver_path(TABLES[path])
    latest = open_table(table_path).version()
    answer = overview_answer if path == OVERVIEW else aggregated_answer
    return [answer(open_table(table_path, version=v)) for v in range(latest + 1)]


# --- the run ------------------------------------------------------------------------------


@dataclass
class Build:
    seconds: float
    versions: dict[str, int]  # table -> its version once the run ended


@dataclass
class Load:
    records: list[tuple[float, float, int, int, str]] = field(default_factory=list)
    bodies: dict[tuple[int, str], bytes] = field(default_factory=dict)
    client_cpu: float = 0.0
    seconds: float = 0.0
    dashboard_cpu: float = 0.0
    machine_busy: float = 0.0  # share of all cores busy during the load


def table_versions(settings) -> dict[str, int]:
    from ventes.delta import open_table

    return {table: open_table(settings.silver_path(table)).version() for table in TABLES.values()}


def rebuild(settings, sales: int) -> Build:
    ventes("produce", "--count", str(sales))
    seconds = ventes("run")
    return Build(seconds, table_versions(settings))


def run_load(settings, args) -> tuple[Load, list[Build]]:
    from stack import processes

    context = multiprocessing.get_context("fork")
    stop, out = context.Event(), context.Queue()
    workers = [
        context.Process(target=client, args=(settings.dashboard_port, stop, out), daemon=True)
        for _ in range(args.clients)
    ]
    pids = gunicorn_pids(processes.read_pid(settings, "dashboard"))
    cpu_before, machine_before = cpu_seconds(pids), psutil.cpu_times()
    begin = time.monotonic()
    for worker in workers:
        worker.start()
    builds = []
    try:
        for number in range(1, args.rebuilds + 1):
            builds.append(rebuild(settings, args.sales))
            print(
                f"  rebuild {number}: `ventes run` in {builds[-1].seconds:5.1f}s at "
                f"{time.monotonic() - begin:5.0f}s of load; versions {builds[-1].versions}",
                flush=True,
            )
        while time.monotonic() - begin < args.seconds:
            time.sleep(0.5)
    finally:
        stop.set()
    load = Load(seconds=time.monotonic() - begin)
    load.dashboard_cpu = cpu_seconds(pids) - cpu_before
    machine_after = psutil.cpu_times()
    busy = sum(machine_after) - machine_after.idle - (sum(machine_before) - machine_before.idle)
    total = sum(machine_after) - sum(machine_before)
    load.machine_busy = busy / total if total else 0.0
    for _ in workers:
        records, bodies, cpu = out.get(timeout=300)
        load.records += records
        load.bodies.update(bodies)
        load.client_cpu += cpu
    for worker in workers:
        worker.join(timeout=60)
    return load, builds


# --- the checks ---------------------------------------------------------------------------


def check(settings, load: Load, builds: list[Build]) -> dict[str, int]:
    """Counts of violations, by check (see the module's docstring)."""
    answers = {path: committed_answers(settings, path) for path in PATHS}
    # ETag -> the versions whose answer is that body.
    versions: dict[tuple[int, str], list[int]] = {}
    for (index, etag), body in load.bodies.items():
        path = PATHS[index]
        got = canonical(path, body)
        versions[(index, etag)] = [v for v, want in enumerate(answers[path]) if want == got]
    violations = Counter()
    violations["committed version"] = sum(
        1 for r in load.records if r[3] == 200 and not versions[(r[2], r[4])]
    )

    # Order: per table, an answer that began after another ended is not from an older version.
    for index in range(len(PATHS)):
        served = sorted(
            (r[0], r[1], versions[(index, r[4])])
            for r in load.records
            if r[2] == index and r[3] == 200 and versions[(index, r[4])]
        )
        ends = sorted((end, min(found)) for _, end, found in served)
        newest_ended, pointer = -1, 0
        for begin, _, found in served:
            while pointer < len(ends) and ends[pointer][0] < begin:
                newest_ended = max(newest_ended, ends[pointer][1])
                pointer += 1
            if max(found) < newest_ended:
                violations["order"] += 1

    # Same build: the build that wrote a version is the first whose run ended at or after it.
    finals = {table: [b.versions[table] for b in builds] for table in TABLES.values()}

    def build_of(table: str, version: int) -> int:
        return bisect.bisect_left(finals[table], version)

    final_total = {
        path: [
            Decimal(str(answers[OVERVIEW][v]["total_montant"]))
            if path == OVERVIEW
            else money_sum(r["total_montant"] for r in answers[AGGREGATED][v])
            for v in finals[TABLES[path]]
        ]
        for path in PATHS
    }
    for (index, etag), found in versions.items():
        path = PATHS[index]
        other = PATHS[1 - index]
        if not found:
            continue
        body = json.loads(load.bodies[(index, etag)])
        total = (
            Decimal(str(body["total_montant"]))
            if path == OVERVIEW
            else money_sum(r["total_montant"] for r in body)
        )
        number = build_of(TABLES[path], min(found))
        if number < len(builds) and final_total[other][number] != total.quantize(Decimal("0.01")):
            violations["same build"] += sum(1 for r in load.records if r[2] == index and r[4] == etag)
    return {name: violations[name] for name in ("committed version", "order", "same build")}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def report(settings, load: Load, builds: list[Build], clients: int) -> None:
    statuses = Counter(r[3] for r in load.records)
    ok = [r[1] - r[0] for r in load.records if r[3] == 200]
    answered = sum(n for status, n in statuses.items() if status)
    print(f"\nload: {clients} keep-alive connections for {load.seconds:.0f}s, {len(builds) - 1} rebuilds")
    print(f"  requests answered   {answered:,} ({answered / load.seconds:,.0f} requests/s)")
    p50, p90, p99, top = (percentile(ok, p) * 1000 for p in (50, 90, 99, 100))
    print(f"  latency (200s)      p50 {p50:.1f} ms  p90 {p90:.1f} ms  p99 {p99:.1f} ms  max {top:.0f} ms")
    print(f"  statuses            {dict(sorted(statuses.items()))} (0: connection failed)")
    print(f"  5xx                 {sum(n for status, n in statuses.items() if status >= 500)}")
    cores = psutil.cpu_count()
    print(
        f"  dashboard CPU       {load.dashboard_cpu:.0f}s = {load.dashboard_cpu / load.seconds:.2f} cores "
        f"({load.dashboard_cpu / max(answered, 1) * 1e3:.2f} ms per request)"
    )
    print(f"  load generator CPU  {load.client_cpu:.0f}s = {load.client_cpu / load.seconds:.2f} cores")
    print(f"  machine             {load.machine_busy:.0%} of {cores} cores busy during the load")
    runs = [b.seconds for b in builds[1:]]
    spread = f"min {min(runs):.1f}, max {max(runs):.1f}"
    print(f"  `ventes run`        median {statistics.median(runs):.1f}s ({spread})")
    distinct = Counter(PATHS[index] for index, _ in load.bodies)
    print(f"  distinct answers    {dict(distinct)}")
    print("consistency violations:")
    for name, count in check(settings, load, builds).items():
        print(f"  {name:<18}  {count}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60, help="least load duration (default 60)")
    parser.add_argument("--rebuilds", type=int, default=5, help="`ventes run` under load (default 5)")
    parser.add_argument("--clients", type=int, default=8, help="keep-alive connections (default 8)")
    parser.add_argument("--sales", type=int, default=200, help="new sales per rebuild (default 200)")
    args = parser.parse_args()

    home = private_stack("bench_readers_")

    from stack import processes
    from ventes import settings as settings_module

    settings = settings_module.load()
    finished = False
    try:
        begin = time.monotonic()
        processes.up(settings, list(SERVICES), echo=lambda line: None)
        print(f"stack up in {time.monotonic() - begin:.0f}s: {', '.join(SERVICES)}", flush=True)
        first = rebuild(settings, args.sales)
        print(f"first `ventes run` in {first.seconds:.1f}s; versions {first.versions}", flush=True)
        load, builds = run_load(settings, args)
        report(settings, load, [first, *builds], args.clients)
        finished = True
    finally:
        processes.down(settings, echo=lambda line: None)
        if finished:
            shutil.rmtree(home, ignore_errors=True)
        else:
            print(f"kept {home} for inspection", file=sys.stderr)


if __name__ == "__main__":
    main()
