"""Benchmark: Bronze ingestion events/s for a 1,000,000-event backlog, each contender cold and fair.

Every figure comes from a fresh process (a new interpreter, JVM and Spark session, as
``ventes ingest`` starts them), on the same topic and backlog, each into an empty lake of its
own; the contenders alternate (A B C A B C ...) so that the machine's other load and Kafka's
page cache fall on each alike. Medians and the spread (min..max) are printed.

Contenders (``--contenders``, any of):

    job      the Bronze job as ``ventes ingest`` runs it (``ingestion.job.ingest``), plus this
             benchmark's progress listener, the only way to its query's progress: a few tenths
             of a CPU-second per micro-batch the job itself no longer spends (its batches here
             are of 200,000, so a handful; ``bench_test_jvm.py --workloads ingest``)
    copy     no parse: the raw Kafka columns plus the ingestion date -> a date-partitioned
             Delta table, with the job's source options, trigger and session
    shape    Bronze's columns with the least work that gives them: the fields read by
             ``from_json`` alone (no check, no status), written into a table made as the job
             makes Bronze: what writing Bronze's shape costs, whatever the parse
    parse    Kafka -> the job's parse -> Spark's ``noop`` sink (Kafka fetch + parse, no write)
    fetch    Kafka -> ``noop`` sink (the Kafka fetch alone)
    ceiling  Spark's ceiling: the backlog read once into memory, then the same parse -> Parquet

``--variant LABEL KIND KEY=VALUE...`` adds a contender of KIND (job or copy) with options:
``spark.*`` keys are Spark confs of its session, ``delta.*`` keys table properties set on the
empty table before the stream starts, ``kafka.<option>`` options added to the Kafka source
(``kafka.minPartitions=4``), upper-case keys environment variables (``MAX_OFFSETS_PER_TRIGGER``).

Where the time goes, per contender: process start to session (Python imports, JVM, Spark
session), the rest before the stream (the job's Kafka checks and Bronze counts), the first
micro-batch and the others (Structured Streaming's progress: planning, offsets, ``addBatch``,
commit), and, from the Delta log, how long each commit took after its last data file. The
differences between contenders split ``addBatch``: fetch, fetch + parse, + the Delta write.

Warm (``--warm-runs``): a following job (``python -m ingestion.job --follow``, and the copy in
follow mode) is started, given a warm-up backlog, then paused (SIGSTOP) while the measured
backlog is produced, and resumed: the figure is the time until its checkpoint says every offset
is committed, as ``ventes ingest`` waits for it while the ``bronze`` service runs.

A broker of its own on free ports and a private VENTES_HOME, removed at the end. Spark runs on
``local[2]`` unless ``SPARK_MASTER`` is set (a standalone master: ``spark://host:7077``; the
workers must then see this machine's temporary folder at the same path, or set ``BENCH_LAKE``
to a folder they share).

    .venv/bin/python bench/bench_ingest.py [--count 1000000] [--runs 3] [--warm-runs 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve()
KINDS = ("job", "copy", "shape", "parse", "fetch", "ceiling")
PHASES = ("latestOffset", "queryPlanning", "getBatch", "walCommit", "addBatch", "commitOffsets")


# ---------------------------------------------------------------- child: one contender, one run


def _kafka_options(options: dict[str, str]) -> None:
    """Add ``kafka.<option>`` variant options to every Kafka source this process loads."""
    from pyspark.sql.streaming import DataStreamReader

    extra = {k.removeprefix("kafka."): v for k, v in options.items() if k.startswith("kafka.")}
    if not extra:
        return
    load = DataStreamReader.load

    def with_options(self, *args, **kwargs):
        for key, value in extra.items():
            self.option(key, value)
        return load(self, *args, **kwargs)

    DataStreamReader.load = with_options


def _recorder():
    """A listener keeping every progress event of the process's queries, as dicts."""
    from pyspark.sql.streaming import StreamingQueryListener

    class Recorder(StreamingQueryListener):
        def __init__(self) -> None:
            super().__init__()
            self.progress: list[dict] = []

        def onQueryStarted(self, event) -> None:
            pass

        def onQueryProgress(self, event) -> None:
            self.progress.append(json.loads(event.progress.json))

        def onQueryIdle(self, event) -> None:
            pass

        def onQueryTerminated(self, event) -> None:
            pass

    return Recorder()


def _source(spark, settings):
    """The Kafka source with the job's options."""
    return (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", settings.kafka_bootstrap_servers)
        .option("subscribe", settings.kafka_topic)
        .option("startingOffsets", "earliest")
        .option("failOnDataLoss", "true")
        .option("maxOffsetsPerTrigger", str(settings.max_offsets_per_trigger))
        .load()
    )


def _copy_rows(kafka):
    """The no-parse copy: raw Kafka columns and the ingestion date."""
    from pyspark.sql import functions as F

    from ventes.contract import BRONZE_PARTITION_COLUMN

    return kafka.withColumn(BRONZE_PARTITION_COLUMN, F.to_date(F.current_timestamp()))


def _shape_rows(kafka):
    """Bronze's columns, the sale's fields read by ``from_json`` alone (no check, no status)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    from ingestion.bronze import BRONZE_SCHEMA, FIELDS

    text = F.col("value").cast("string")
    # Timestamps read as text, then cast: from_json's own timestamp parsing is several times slower.
    read_as = {f.json_name: StringType() if f.kind == "timestamp" else f.data_type for f in FIELDS}
    schema = StructType([StructField(name, kind) for name, kind in read_as.items()])
    # In a projection of its own, so that each record's JSON is read once, not once per field.
    kafka = kafka.withColumn("_sale", F.from_json(text, schema))
    sale = F.col("_sale")
    columns = {
        "value_bytes": F.col("value"),
        "value": F.make_valid_utf8(text),
        "key": F.col("key").cast("string"),
        "topic": F.col("topic"),
        "partition": F.col("partition"),
        "offset": F.col("offset"),
        "kafka_timestamp": F.col("timestamp"),
        "ingestion_time": F.current_timestamp(),
        "date": F.current_date(),
        "parse_status": F.lit("ok"),
        "parse_error": F.lit(None),
        **{
            f.column: sale[f.json_name].try_cast("timestamp") if f.kind == "timestamp" else sale[f.json_name]
            for f in FIELDS
        },
    }
    return kafka.select(*(columns[f.name].cast(f.dataType).alias(f.name) for f in BRONZE_SCHEMA.fields))


def _stream(spark, settings, kind: str, follow: bool) -> list[dict]:
    """Run a contender other than the job until drained (or, following, until SIGTERM).

    Returns its progress events (the query keeps the last hundred).
    """
    import threading

    from ingestion import job
    from ingestion.bronze import to_bronze
    from ingestion.session import APP_NAME
    from ventes.contract import BRONZE_PARTITION_COLUMN

    kafka = _source(spark, settings)
    if kind == "shape":  # into the table the job makes, with its statistics columns
        job.ensure_bronze_table(settings)
    if kind in ("copy", "shape"):
        rows = _copy_rows(kafka) if kind == "copy" else _shape_rows(kafka)
        writer = rows.writeStream.format("delta").partitionBy(BRONZE_PARTITION_COLUMN)
        target = str(settings.bronze_path)
    else:
        rows = to_bronze(kafka) if kind == "parse" else kafka
        writer, target = rows.writeStream.format("noop"), None
    writer = writer.option("checkpointLocation", str(settings.checkpoint_dir)).queryName(APP_NAME)
    writer = (
        writer.trigger(processingTime=job.FOLLOW_INTERVAL) if follow else writer.trigger(availableNow=True)
    )
    query = writer.start(target) if target else writer.start()
    stop = threading.Event()
    if follow:
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not query.awaitTermination(0.5) and not stop.is_set():
        pass
    if stop.is_set():
        query.stop()
    if query.exception() is not None:
        raise query.exception()
    return [json.loads(p.json) for p in query.recentProgress]


def _ceiling(spark, settings) -> dict:
    """The backlog read once into memory, then parsed and written to Parquet."""
    from pyspark import StorageLevel

    from ingestion.bronze import to_bronze

    rows = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", settings.kafka_bootstrap_servers)
        .option("subscribe", settings.kafka_topic)
        .option("startingOffsets", "earliest")
        .option("endingOffsets", "latest")
        .load()
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    count = rows.count()
    begin = time.monotonic()
    to_bronze(rows).write.mode("overwrite").parquet(str(settings.bronze_path))
    return {"rows": count, "stream_seconds": time.monotonic() - begin}


def child(kind: str, options: dict[str, str], out: Path, follow: bool) -> None:
    """One contender in this fresh process; its figures go to ``out`` as JSON."""
    started = time.monotonic()
    from ingestion import job
    from ingestion.session import spark_session
    from ventes import settings as settings_module

    settings = settings_module.load()
    _kafka_options(options)
    conf = {k: v for k, v in options.items() if k.startswith("spark.")}
    imported = time.monotonic()
    spark, _ = spark_session(settings, conf)
    session = time.monotonic()
    recorder = _recorder()
    if kind == "job":  # the others return their query's progress
        spark.streams.addListener(recorder)
    result: dict = {"kind": kind}
    props = {k: v for k, v in options.items() if k.startswith("delta.")}
    if props:  # on the empty Bronze table, which the job then finds and keeps
        if kind != "job":
            raise SystemExit("table properties are for the job contender")
        job.ensure_bronze_table(settings)
        pairs = ", ".join(f"'{k}' = '{v}'" for k, v in props.items())
        spark.sql(f"ALTER TABLE delta.`{settings.bronze_path}` SET TBLPROPERTIES ({pairs})")
    if kind == "job":
        report = job.ingest(settings, follow=follow)
        result.update(rows=report.rows_added, stream_seconds=report.seconds)
    elif kind == "ceiling":
        result.update(_ceiling(spark, settings))
    else:
        begin = time.monotonic()
        recorder.progress = _stream(spark, settings, kind, follow)
        result["stream_seconds"] = time.monotonic() - begin
        result["rows"] = sum(p["numInputRows"] for p in recorder.progress)
    done = time.monotonic()
    deadline = done + 5  # listener events arrive asynchronously
    while time.monotonic() < deadline and sum(p["numInputRows"] for p in recorder.progress) < result["rows"]:
        time.sleep(0.05)
    spark.stop()
    result.update(
        imports=imported - started,
        session=session - imported,
        in_process=done - started,
        progress=[p for p in recorder.progress if p["numInputRows"]],
    )
    out.write_text(json.dumps(result))


# ---------------------------------------------------------------- parent: the runs and figures


def _delta_commits(table: Path) -> list[float]:
    """Seconds from each commit's last data file to its commit, from the Delta log."""
    seconds = []
    for entry in sorted((table / "_delta_log").glob("*.json")):
        actions = [json.loads(line) for line in entry.read_text().splitlines() if line]
        info = next((a["commitInfo"] for a in actions if "commitInfo" in a), None)
        adds = [a["add"]["modificationTime"] for a in actions if "add" in a]
        if info is not None and adds:
            seconds.append((info["timestamp"] - max(adds)) / 1000)
    return seconds


class Contender:
    def __init__(self, label: str, kind: str, options: dict[str, str] | None = None) -> None:
        if kind not in KINDS:
            raise SystemExit(f"unknown contender kind {kind!r}: one of {', '.join(KINDS)}")
        self.label, self.kind, self.options = label, kind, options or {}
        self.runs: list[dict] = []

    def env(self, lake: Path) -> dict[str, str]:
        env = dict(os.environ, DELTA_ROOT=str(lake))
        env.update({k: v for k, v in self.options.items() if k.isupper()})
        env["PYTHONPATH"] = os.pathsep.join([str(BENCH.parent.parent), env.get("PYTHONPATH", "")])
        return env

    def command(self, out: Path, follow: bool = False) -> list[str]:
        options = [f"{k}={v}" for k, v in self.options.items() if not k.isupper()]
        return [
            sys.executable,
            str(BENCH),
            "--child",
            self.kind,
            "--out",
            str(out),
            *(["--follow"] if follow else []),
            *options,
        ]


def run_cold(contender: Contender, scratch: Path, number: int, expected: int, timeout: float) -> dict:
    lake = scratch / f"{contender.label}-{number}"
    out = scratch / f"{contender.label}-{number}.json"
    log = scratch / f"{contender.label}-{number}.log"
    begin = time.monotonic()
    with open(log, "w") as sink:
        done = subprocess.run(
            contender.command(out),
            env=contender.env(lake),
            stdout=sink,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
    wall = time.monotonic() - begin
    if done.returncode != 0 or not out.exists():
        raise SystemExit(f"{contender.label} run {number} failed; its output:\n{log.read_text()[-3000:]}")
    result = json.loads(out.read_text())
    if result["rows"] != expected:
        raise SystemExit(f"{contender.label} run {number}: {result['rows']:,} rows, expected {expected:,}")
    bronze = lake / "bronze" / "ventes_raw"
    result.update(wall=wall, commits=_delta_commits(bronze) if bronze.is_dir() else [])
    shutil.rmtree(lake, ignore_errors=True)
    return result


def run_warm(contender: Contender, scratch: Path, number: int, broker, count: int, warmup: int) -> dict:
    """A following contender, warmed up, paused while ``count`` events are produced, resumed."""
    from bench_producer import on_topic

    from ingestion.offsets import kafka_offsets
    from ingestion.producer import produce

    topic = f"bench_warm_{contender.label}_{number}".replace("+", "_")
    lake = scratch / f"warm-{contender.label}-{number}"
    os.environ["DELTA_ROOT"] = str(lake)
    settings = on_topic(broker, topic)
    produce(settings, warmup, seed=3, progress=False)
    out = scratch / f"warm-{contender.label}-{number}.json"
    log = open(scratch / f"warm-{contender.label}-{number}.log", "w")  # noqa: SIM115 - closed below
    env = contender.env(lake) | {"KAFKA_TOPIC": topic}
    process = subprocess.Popen(
        contender.command(out, follow=True),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_committed(settings, kafka_offsets(settings), deadline=time.monotonic() + 300, process=process)
        os.killpg(process.pid, signal.SIGSTOP)
        try:
            produce(settings, count, seed=1, progress=False)
            target = kafka_offsets(settings)
        finally:
            begin = time.monotonic()
            os.killpg(process.pid, signal.SIGCONT)
        _wait_committed(settings, target, deadline=begin + 600, process=process)
        seconds = time.monotonic() - begin
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
        os.environ.pop("DELTA_ROOT", None)
        shutil.rmtree(lake, ignore_errors=True)
    return {"rows": count, "seconds": seconds}


def _wait_committed(settings, target: dict, deadline: float, process: subprocess.Popen) -> None:
    from ingestion.streaming import committed_offsets, missing_offsets

    while missing_offsets(target, committed_offsets(settings)):
        if process.poll() is not None:
            raise SystemExit(f"the following contender exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise SystemExit("the following contender did not commit the backlog in time")
        time.sleep(0.1)


def _spread(values: list[float], fmt: str = "{:,.0f}") -> str:
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}..{fmt.format(max(values))})"


def _breakdown(run: dict) -> dict[str, float]:
    """Seconds of one cold run by phase."""
    progress = run["progress"]
    first = progress[0]["durationMs"] if progress else {}
    rest = [p["durationMs"] for p in progress[1:]]
    phases = {
        "python start + imports": run["wall"] - run["in_process"] + run["imports"],
        "JVM + Spark session": run["session"],
        "first micro-batch": first.get("triggerExecution", 0) / 1000,
        "other micro-batches": sum(d.get("triggerExecution", 0) for d in rest) / 1000,
    }
    for phase in PHASES:
        phases[f"  of which {phase}"] = sum(p["durationMs"].get(phase, 0) for p in progress) / 1000
    phases["  of which Delta commits (after the last file)"] = sum(run["commits"])
    streamed = sum(p["durationMs"].get("triggerExecution", 0) for p in progress) / 1000
    phases["rest (job checks, counts, stop)"] = (
        run["wall"] - phases["python start + imports"] - run["session"] - streamed
    )
    return phases


def report(contenders: list[Contender], count: int, settings, warm: dict[str, list[dict]]) -> None:
    master = settings.spark_master
    print()
    print(
        f"backlog: {count:,} events on {settings.kafka_partitions} partitions, {master}, "
        f"{settings.max_offsets_per_trigger:,} offsets per batch, {len(contenders[0].runs)} cold runs each "
        "(fresh process each, alternated); median (min..max)"
    )
    rates: dict[str, float] = {}
    print(f"{'contender':<22} {'events/s in the stream':>30} {'events/s whole process':>30} {'wall s':>22}")
    for c in contenders:
        streamed = [r["rows"] / r["stream_seconds"] for r in c.runs]
        whole = [r["rows"] / r["wall"] for r in c.runs]
        rates[c.label] = statistics.median(streamed)
        print(
            f"{c.label:<22} {_spread(streamed):>30} {_spread(whole):>30} "
            f"{_spread([r['wall'] for r in c.runs], '{:.1f}'):>22}"
        )
    if "job" in rates and "copy" in rates:
        ratios = [
            j["rows"] / j["stream_seconds"] / (c["rows"] / c["stream_seconds"])
            for j, c in zip(_by(contenders, "job").runs, _by(contenders, "copy").runs, strict=True)
        ]
        print(f"ratio job / no-parse copy (per round): {_spread(ratios, '{:.2f}')}")
    for label, rate in rates.items():
        kind = _by(contenders, label).kind
        if label not in ("job", "copy") and "copy" in rates and kind in ("job", "shape"):
            bound = " (Bronze's columns, no checks: a Bronze job's bound)" if kind == "shape" else ""
            print(f"ratio {label} / no-parse copy: {rate / rates['copy']:.2f}{bound}")
    print()
    print(
        "where the time goes, seconds, median of the runs "
        "(the parts of addBatch from the contenders' differences):"
    )
    keys = list(_breakdown(contenders[0].runs[0]))
    print(f"{'':<48}" + "".join(f"{c.label:>12}" for c in contenders))
    for key in keys:
        cells = "".join(f"{statistics.median(_breakdown(r)[key] for r in c.runs):>12.2f}" for c in contenders)
        print(f"{key:<48}{cells}")
    add = {
        c.label: statistics.median(_breakdown(r)["  of which addBatch"] for r in c.runs) for c in contenders
    }
    if {"fetch", "parse", "copy", "job"} <= add.keys():
        print(
            f"addBatch split: Kafka fetch {add['fetch']:.1f}s, the parse {add['parse'] - add['fetch']:.1f}s, "
            f"raw Delta write {add['copy'] - add['fetch']:.1f}s, Bronze Delta write (incl. statistics) "
            f"{add['job'] - add['parse']:.1f}s"
        )
    for label, runs in warm.items():
        rates_warm = [r["rows"] / r["seconds"] for r in runs]
        print(
            f"warm, {label} already following: {count:,} events committed at {_spread(rates_warm)} events/s "
            f"({_spread([r['seconds'] for r in runs], '{:.1f}')} s)"
        )
    if "job" in rates:
        fast, close = rates["job"] >= 40_000, "copy" in rates and rates["job"] >= 0.9 * rates["copy"]
        print(f"aim >= 40,000 events/s cold: {'met' if fast else 'not met'}")
        print(f"aim >= 0.9x the no-parse copy: {'met' if close else 'not met'}")


def _by(contenders: list[Contender], label: str) -> Contender:
    return next(c for c in contenders if c.label == label)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warm-runs", type=int, default=1, help="per following contender (job, copy)")
    parser.add_argument("--warmup-count", type=int, default=100_000)
    parser.add_argument("--bad-ratio", type=float, default=0.0)
    parser.add_argument("--contenders", nargs="+", default=["job", "copy", "parse", "fetch"], choices=KINDS)
    parser.add_argument(
        "--variant",
        nargs="+",
        action="append",
        default=[],
        metavar="LABEL KIND KEY=VALUE",
        help="another contender: LABEL, a KIND (job or copy), then its options",
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per cold run")
    parser.add_argument("--child", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--follow", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("options", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, dict(o.split("=", 1) for o in args.options), args.out, args.follow)
        return

    contenders = [Contender(kind, kind) for kind in args.contenders]
    for label, kind, *options in args.variant:
        contenders.append(Contender(label, kind, dict(o.split("=", 1) for o in options)))
    os.environ.setdefault("SPARK_MASTER", "local[2]")
    sys.path.insert(0, str(BENCH.parent))
    from bench_producer import on_topic, own_broker

    from ingestion.producer import produce

    scratch = Path(os.environ.get("BENCH_LAKE") or tempfile.mkdtemp(prefix="ventes-bench-ingest-"))
    scratch.mkdir(parents=True, exist_ok=True)
    warm: dict[str, list[dict]] = {}
    try:
        with own_broker() as broker:
            settings = on_topic(broker, "bench_ingest")
            produced = produce(settings, args.count, seed=1, bad_ratio=args.bad_ratio, progress=False)
            for number in range(args.runs):
                for contender in contenders:
                    result = run_cold(contender, scratch, number, produced.sent, args.timeout)
                    contender.runs.append(result)
                    print(
                        f"run {number + 1} {contender.label}: "
                        f"{result['rows'] / result['stream_seconds']:,.0f} "
                        f"events/s streaming, {result['wall']:.1f}s whole process",
                        flush=True,
                    )
            following = [c for c in contenders if c.kind in ("job", "copy", "shape")]
            for number in range(args.warm_runs):
                for contender in following:
                    result = run_warm(contender, scratch, number, broker, args.count, args.warmup_count)
                    warm.setdefault(contender.label, []).append(result)
                    print(f"warm {number + 1} {contender.label}: {result['seconds']:.1f}s", flush=True)
            report(contenders, produced.sent, settings, warm)
    finally:
        if not os.environ.get("BENCH_LAKE"):
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
