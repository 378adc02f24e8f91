"""Environment helpers shared by tests and fixtures."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

# Spark's drivers in tests (jobs, Thrift servers, the session's own) live seconds to minutes, too
# short for the JVM's optimising compiler to pay back what it costs: with the quick compiler only
# they take about a third less CPU (bench/bench_test_jvm.py). spark-submit adds SPARK_SUBMIT_OPTS
# to the driver's java command. The other benchmarks keep the JVM's defaults.
# The quick compiler alone gets a 48 MB code cache, which one dbt build fills with the code of
# Spark's generated classes ("Out of space in CodeCache"): it keeps the default 240 MB.
# Nor do they generate code (Spark reads `spark.*` Java properties as its configuration): on tens
# of rows, generating Java and compiling it with Janino costs more than interpreting the plan,
# most of all for Delta's log actions (wide nested structs), decoded anew for each table version.
QUICK_COMPILER_OPTS = "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=240m"
NO_CODEGEN_OPTS = "-Dspark.sql.codegen.wholeStage=false -Dspark.sql.codegen.factoryMode=NO_CODEGEN"
TEST_SPARK_SUBMIT_OPTS = f"{QUICK_COMPILER_OPTS} {NO_CODEGEN_OPTS}"
# The Kafka brokers the tests start (and the storage tool formatting each) live as briefly: with
# the quick compiler only, a broker's start, 2,000 sales and its stop take 3.8 CPU-s instead of
# 6.7 (a suite starts about 16 brokers).
TEST_KAFKA_OPTS = QUICK_COMPILER_OPTS


@contextlib.contextmanager
def env_overrides(**overrides: str) -> Iterator[None]:
    """Set environment variables for the duration of a block (any fixture scope)."""
    saved = {k: os.environ.get(k) for k in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
