"""A class-data-sharing archive for the tests' Spark JVMs.

Each Spark JVM the suite starts (jobs, Thrift servers, the session's own) loads and verifies the
same tens of thousands of classes from the same jars before it does any work. A dynamic CDS
archive (``-XX:ArchiveClassesAtExit``) holds them already parsed and verified, and every JVM
started with ``-XX:SharedArchiveFile`` maps it instead: a Spark session or a Thrift server start
then takes a half to two thirds of the CPU (bench/bench_test_jvm.py).

The archive is made by one training run: a Spark session with the project's configuration
writes and reads a Delta table, registers it in a Hive metastore and streams it into another.
It only serves the JVM and the classpath it was made with, so its name carries a digest of
both, the tests' JVM options and this file. The suite makes it when missing, before its first
JVM starts (tests/conftest.py), or by hand:

    .venv/bin/python -m tests.jvm_archive          # make it if missing, print its path

A JVM whose classpath does not match (another ``VENTES_JARS``) loads its classes as usual.
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.environment import TEST_SPARK_SUBMIT_OPTS
from ventes import jars
from ventes import settings as settings_module

ARCHIVE_DIR = settings_module.PROJECT_ROOT / ".ventes" / "jvm-archive"
# The JVM says nothing when it maps the archive, and one line on stdout when it cannot (another
# classpath): tests reading a command's output must not see it.
QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    found = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not found:
        raise SystemExit("Java is required (java not on PATH, JAVA_HOME not set)")
    return os.path.realpath(found)


def _classpath_jars() -> list[Path]:
    settings = settings_module.load()
    return [*jars.spark_extra_jars(settings), *sorted(jars.PYSPARK_JARS_DIR.glob("*.jar"))]


def archive_path() -> Path:
    """Where the archive for this JVM, classpath, options and training run lives."""
    digest = hashlib.sha256()
    java = _java()
    version = subprocess.run([java, "-version"], capture_output=True, text=True, check=True).stderr
    for part in (java, version, TEST_SPARK_SUBMIT_OPTS, Path(__file__).read_text()):
        digest.update(part.encode())
    for jar in _classpath_jars():
        digest.update(f"{jar}:{jar.stat().st_size}".encode())
    return ARCHIVE_DIR / f"spark-{digest.hexdigest()[:16]}.jsa"


def java_options(archive: Path) -> str:
    """The JVM options that map ``archive``."""
    return f"-XX:SharedArchiveFile={archive} {QUIET}"


def ensure_archive() -> Path:
    """The archive, made by a training run in a fresh process when missing (one process at a
    time: another waits for it, then finds it made)."""
    ARCHIVE_DIR.mkdir(parents=True, exist_ok=True)
    with (ARCHIVE_DIR / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        archive = archive_path()
        if not archive.is_file():
            _make(archive)
        return archive


def _make(archive: Path) -> None:
    for stale in ARCHIVE_DIR.glob("spark-*.jsa"):
        stale.unlink()
    begin = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ventes-jvm-archive-") as home:
        partial = Path(home) / "spark.jsa"
        log = Path(home) / "training.log"
        env = {
            **os.environ,
            "VENTES_HOME": str(Path(home) / "home"),
            # Derby writes its derby.log in the working directory unless given a home.
            "SPARK_SUBMIT_OPTS": (
                f"{TEST_SPARK_SUBMIT_OPTS} -XX:ArchiveClassesAtExit={partial} -Dderby.system.home={home}"
            ),
        }
        with log.open("w") as out:
            done = subprocess.run(
                [sys.executable, "-m", "tests.jvm_archive", "--train"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=settings_module.PROJECT_ROOT,
                timeout=600,
                check=False,
            )
        if done.returncode != 0 or not partial.is_file():
            tail = log.read_text(errors="replace").splitlines()[-20:]
            raise RuntimeError("the training run made no JVM archive:\n" + "\n".join(tail))
        shutil.move(partial, archive)
    print(f"made {archive} in {time.monotonic() - begin:.0f} s", file=sys.stderr)


def _train() -> None:
    """The training workload, in this process's Spark JVM; returns once the JVM wrote the archive."""
    from ventes.spark import metastore_conf, new_session

    # Its own embedded metastore, whatever METASTORE_URL the environment names.
    settings = dataclasses.replace(settings_module.load(), metastore_url="")
    settings.make_home()
    spark = new_session(
        settings,
        "ventes-jvm-archive",
        master="local[2]",
        conf={**metastore_conf(settings), "spark.sql.catalogImplementation": "hive"},
        log_level="ERROR",
    )
    table = settings.home / "training"
    spark.range(100).selectExpr("id", "cast(id as string) as label").write.format("delta").save(str(table))
    spark.sql(f"create table training using delta location '{table}'")
    stream = (
        spark.readStream.format("delta")
        .load(str(table))
        .selectExpr("id * 2 as id", "label")
        .writeStream.format("delta")
        .option("checkpointLocation", str(settings.home / "checkpoint"))
        .trigger(availableNow=True)
        .start(str(settings.home / "copy"))
    )
    stream.awaitTermination(300)
    spark.sql("select label, count(*) from training group by label order by 2 desc").collect()
    gateway = spark.sparkContext._gateway
    spark.stop()
    # The JVM exits when its standard input closes, and writes the archive as it exits.
    gateway.proc.stdin.close()
    gateway.proc.wait(timeout=300)


def main() -> None:
    parser = argparse.ArgumentParser(description="Make the tests' Spark JVM archive if missing.")
    parser.add_argument("--train", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.train:
        _train()
        return
    print(ensure_archive())


if __name__ == "__main__":
    main()
