"""The README's commands as a user types them, from a fresh VENTES_HOME: ``ventes up``,
``produce``, ``run``, ``status``, ``docs`` (serving, then stopped), ``down``; each through the
command line, checked for its exit code and what it prints. The whole pipeline with it: the
dashboard under gunicorn serves the totals of the sales read back from Kafka, and a second run,
by the Bronze job itself, adds nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack import processes
from tests.ports import reserve_port, stack_env
from tests.seed_apis import SEED_APIS, comparable, expected_answers, topic_sales
from ventes import settings as settings_module

pytestmark = [pytest.mark.stack, pytest.mark.slow]

SERVICES = [svc.name for svc in processes.SERVICES]
# `ventes` as a terminal starts it, Ctrl-C raising KeyboardInterrupt: a session started in the
# background (`.ci/run &`) has SIGINT ignored, which its children inherit until a handler is set.
AS_IN_A_TERMINAL = "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
# Variables of the test session that a user's shell would not have; the tests' JVM options
# (SPARK_SUBMIT_OPTS, KAFKA_OPTS) stay, as for every other service the tests start.
OWN_PREFIXES = ("VENTES_", "DELTA_", "KAFKA_", "AIRFLOW")
JVM_OPTIONS = ("SPARK_SUBMIT_OPTS", "KAFKA_OPTS")


@pytest.fixture(scope="module")
def user_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A shell's environment: its own home and ports, nothing else set; stopped at the end."""
    home = tmp_path_factory.mktemp("readme_home")
    env = {
        **{k: v for k, v in os.environ.items() if k in JVM_OPTIONS or not k.startswith(OWN_PREFIXES)},
        **stack_env(home),
        "DBT_DOCS_PORT": str(reserve_port()),
        "VENTES_JARS": str(Path(__file__).resolve().parent.parent / ".ventes" / "jars"),
    }
    for name in ("THRIFT_HOST", "DASHBOARD_HOST", "PIPELINE_SCHEDULE", "METASTORE_URL", "SPARK_MASTER"):
        env.pop(name, None)
    try:
        yield env
    finally:
        subprocess.run([sys.executable, "-m", "stack.cli", "down"], env=env, capture_output=True, check=False)


def ventes(env: dict[str, str], *args: str, timeout: float = 900) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "stack.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, (
        f"ventes {' '.join(args)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result.stdout


def seed_answers(dashboard: str) -> dict[str, list[dict]]:
    return comparable({name: get_json(f"{dashboard}/api/{name}") for name in SEED_APIS})


def status(env: dict[str, str]) -> dict[str, str]:
    """Service -> the first word of its health, from `ventes status`'s table."""
    lines = ventes(env, "status").splitlines()
    assert lines[0].split()[:4] == ["service", "pid", "address", "health"]
    return {line.split()[0]: line.split()[3] for line in lines[1:]}


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def test_the_readme_session(user_env: dict[str, str]) -> None:
    env = user_env
    printed = ventes(env, "up")
    for name in SERVICES:
        assert f"{name:<10} started in" in printed, printed
    assert "stop with: ventes down" in printed
    assert ventes(env, "up", "kafka", "thrift").count("already running") == 2  # idempotent
    assert set(status(env).values()) == {"up"}

    assert "produced 20 events" in ventes(env, "produce", "--count", "20", "--seed", "7")
    run = ventes(env, "run")
    assert "Bronze holds every offset Kafka had" in run, run  # the bronze service ingested
    assert "Completed successfully" in run and "run finished in" in run
    dashboard = f"http://127.0.0.1:{env['DASHBOARD_PORT']}"
    assert get_json(f"{dashboard}/api/overview")["nombre_ventes"] == 20
    settings = settings_module.load(env)
    sales = topic_sales(settings.kafka_bootstrap_servers, settings.kafka_topic)
    assert len(sales) == 20
    figures = seed_answers(dashboard)
    assert figures == expected_answers(sales)

    # Without the streaming service, `run` runs the Bronze job itself: it finds every offset
    # already in Bronze, and the figures stay as they were.
    assert f"{'bronze':<10} stopped" in ventes(env, "down", "bronze")
    run = ventes(env, "run")
    assert "ingested 0 rows" in run and "Bronze now holds 20 rows" in run, run
    assert seed_answers(dashboard) == figures

    docs = subprocess.Popen(
        [sys.executable, "-c", f"{AS_IN_A_TERMINAL}from stack.cli import main; sys.exit(main(['docs']))"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while True:
            assert docs.poll() is None, docs.stdout.read()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{env['DBT_DOCS_PORT']}/", timeout=5) as page:
                    assert page.status == 200 and b"dbt" in page.read()
                break
            except OSError:
                assert time.monotonic() < deadline, "the docs were not served in time"
                time.sleep(1)
    finally:
        os.killpg(docs.pid, signal.SIGINT)  # Ctrl-C in the terminal: the CLI and its dbt
        output, _ = docs.communicate(timeout=60)
    assert "serving the dbt docs on" in output

    printed = ventes(env, "down")
    for name in SERVICES:
        assert f"{name:<10} {'not running' if name == 'bronze' else 'stopped'}" in printed, printed
    assert set(status(env).values()) == {"stopped"}
