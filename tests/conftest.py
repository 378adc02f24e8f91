"""Shared fixtures.

Tests never touch the developer's stack: each session gets its own VENTES_HOME under pytest's
temporary folder and its own loopback ports (reserved by tests/ports.py, so that no other test
process gets them), and stops every service it started.

Tests that start a JVM, a broker, a browser, Airflow or dbt against a Thrift server carry the
``stack`` mark; ``pytest -m "not stack"`` (``./dev test --fast``) runs the others.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from stack import processes
from tests import jvm_archive
from tests.environment import TEST_KAFKA_OPTS, TEST_SPARK_SUBMIT_OPTS, env_overrides
from tests.ports import reserve_port, start_service
from ventes import jars
from ventes import settings as settings_module

# A test using one of these fixtures starts a JVM, a broker or a database server.
STACK_FIXTURES = {"kafka", "thrift", "spark", "kafka_cluster", "spark_cluster", "postgres"}


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("SPARK_SUBMIT_OPTS", TEST_SPARK_SUBMIT_OPTS)
    os.environ.setdefault("KAFKA_OPTS", TEST_KAFKA_OPTS)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if STACK_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.stack)
    # Costly files first, pytest-randomly's order kept within each tier and no file split (its
    # module fixtures would be set up twice). `./dev test` hands files to its workers in this
    # order, rather than by their number of tests, which left the long one-test files for last.
    tier: dict[object, int] = {}
    for item in items:
        cost = 0 if item.get_closest_marker("slow") else 1 if item.get_closest_marker("stack") else 2
        tier[item.path] = min(cost, tier.get(item.path, cost))
    items.sort(key=lambda item: tier[item.path])


def pytest_collection_finish(session: pytest.Session) -> None:
    # After `-m` has deselected (`./dev test --fast` starts no JVM) and before any test starts
    # one: the class archive of the tests' Spark JVMs, made once a machine (tests/jvm_archive.py).
    if os.environ["SPARK_SUBMIT_OPTS"] == TEST_SPARK_SUBMIT_OPTS and any(
        item.get_closest_marker("stack") for item in session.items
    ):
        archive = jvm_archive.java_options(jvm_archive.ensure_archive())
        os.environ["SPARK_SUBMIT_OPTS"] = f"{TEST_SPARK_SUBMIT_OPTS} {archive}"


@pytest.fixture(scope="session")
def test_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[settings_module.Settings]:
    """Point every setting at a private home and reserved ports for the whole test session."""
    home = tmp_path_factory.mktemp("ventes_home")
    overrides = {
        "VENTES_HOME": str(home),
        "DELTA_ROOT": str(home / "delta"),
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{reserve_port()}",
        "KAFKA_CONTROLLER_PORT": str(reserve_port()),
        "THRIFT_HOST": "127.0.0.1",
        "THRIFT_PORT": str(reserve_port()),
        "DASHBOARD_HOST": "127.0.0.1",
        "DASHBOARD_PORT": str(reserve_port()),
        "DBT_DOCS_PORT": str(reserve_port()),
        "AIRFLOW_PORT": str(reserve_port()),
    }
    with env_overrides(**overrides):
        yield settings_module.load()


def _service(settings: settings_module.Settings, name: str) -> Iterator[settings_module.Settings]:
    jars.ensure_jars(settings)
    # On other ports if another program took the reserved one (they are then in os.environ).
    settings = start_service(settings, name, export=True)
    try:
        yield settings
    finally:
        processes.stop(settings, name)


@pytest.fixture(scope="session")
def kafka(test_env: settings_module.Settings) -> Iterator[settings_module.Settings]:
    """A real single-node Kafka broker (KRaft) with the sales topic."""
    yield from _service(test_env, "kafka")


@pytest.fixture(scope="session")
def thrift(test_env: settings_module.Settings) -> Iterator[settings_module.Settings]:
    """A real Spark Thrift Server with Delta, owning the session's metastore."""
    yield from _service(test_env, "thrift")


@pytest.fixture(scope="session")
def spark(test_env: settings_module.Settings):
    """A local SparkSession with Delta, for the pure DataFrame functions."""
    from ventes.spark import new_session

    session = new_session(test_env, "ventes-tests", master="local[2]", log_level="ERROR")
    yield session
    session.stop()
