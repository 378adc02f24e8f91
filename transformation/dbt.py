"""dbt on the Spark Thrift Server: build the Silver tables, generate and serve the docs.

dbt runs as a child process of the virtual environment's ``dbt``, with the project's settings in
its environment (``profiles.yml`` and ``dbt_project.yml`` read them through ``env_var()``). Its
target folder (``settings.dbt_target_dir``, where the dashboard reads ``run_results.json``) and
its logs live under VENTES_HOME, so homes used side by side never share them.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from transformation.results import failure_labels
from ventes.errors import VentesError
from ventes.net import port_open
from ventes.settings import Settings

DBT = Path(sys.executable).parent / "dbt"
# A pipeline build leaves out the unit tests: their inputs are fixed rows, so they say something
# only when the SQL changes, and they run in the test suite (``dbt test --select test_type:unit``)
# instead of on every scheduled build.
PIPELINE_BUILD_FLAGS = ("--exclude-resource-type", "unit_test")


@dataclass(frozen=True)
class DbtRun:
    """What one dbt command did: its exit code and the nodes that did not succeed."""

    command: str
    returncode: int
    failures: list[str]
    output_tail: list[str]

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def summary(self) -> str:
        """One line saying what failed, for VentesError."""
        if self.failures:
            shown = ", ".join(self.failures[:5])
            more = f" and {len(self.failures) - 5} more" if len(self.failures) > 5 else ""
            return f"dbt {self.command} failed: {shown}{more}"
        reason = next((line for line in reversed(self.output_tail) if "rror" in line), None)
        reason = reason or (self.output_tail[-1] if self.output_tail else "no output")
        return f"dbt {self.command} failed (exit {self.returncode}): {reason.strip()[:300]}"


def dbt_env(settings: Settings) -> dict[str, str]:
    """The child's environment: the settings, plus where dbt finds the project and writes."""
    env = settings.env_for_children()
    env.update(
        DBT_PROJECT_DIR=str(settings.dbt_project_dir),
        DBT_PROFILES_DIR=str(settings.dbt_profiles_dir),
        DBT_TARGET_PATH=str(settings.dbt_target_dir),
        DBT_LOG_PATH=str(settings.dbt_log_dir),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
    )
    if not sys.stdout.isatty():
        env["DBT_USE_COLORS"] = "false"
    return env


def run(settings: Settings, *args: str, echo: Callable[[str], None] = print) -> DbtRun:
    """Run any dbt command on the project (``run(settings, "test", "--select", "ventes_clean")``).

    dbt's progress lines go to ``echo`` as they come. Does not raise on failure: see ``check``.
    """
    results = settings.dbt_target_dir / "run_results.json"
    before = _modified(results)
    tail: list[str] = []
    with subprocess.Popen(
        [str(DBT), *args],
        env=dbt_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        bufsize=1,
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            echo(line)
            tail = [*tail[-40:], line]
    command = " ".join(itertools.takewhile(lambda arg: not arg.startswith("-"), args))
    # Results older than this run (dbt stopped before running any node) are not this run's.
    failures = failure_labels(results) if _modified(results) != before else []
    return DbtRun(command=command, returncode=proc.returncode, failures=failures, output_tail=tail)


def _modified(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


def check(run_result: DbtRun) -> None:
    if not run_result.ok:
        raise VentesError(run_result.summary())


def _require_thrift(settings: Settings) -> None:
    if not port_open(settings.thrift_host, settings.thrift_port):
        raise VentesError(
            f"the Spark Thrift Server does not answer on {settings.thrift_host}:"
            f"{settings.thrift_port}; start it with: ventes up"
        )


def build(settings: Settings, select: str | None = None, echo: Callable[[str], None] = print) -> None:
    """``dbt build``: the Silver tables and their data tests. Raises VentesError on failure."""
    _require_thrift(settings)
    args = ["build", *PIPELINE_BUILD_FLAGS, *(["--select", select] if select else [])]
    result = run(settings, *args, echo=echo)
    if not result.ok and not port_open(settings.thrift_host, settings.thrift_port):
        # The server went away mid-build (killed, out of memory): say that, not only which
        # nodes it took with it.
        raise VentesError(
            f"the Spark Thrift Server on {settings.thrift_host}:{settings.thrift_port} stopped "
            f"answering during dbt build ({result.summary().removeprefix('dbt build failed: ')}); "
            "start it again with: ventes up thrift, then run again"
        )
    check(result)


def docs(settings: Settings, serve: bool = True, echo: Callable[[str], None] = print) -> None:
    """Generate the docs (lineage and catalog), then serve them until interrupted."""
    _require_thrift(settings)
    check(run(settings, "docs", "generate", echo=echo))
    echo(f"docs generated in {settings.dbt_target_dir}")
    if not serve:
        return
    echo(f"serving the dbt docs on http://127.0.0.1:{settings.docs_port}/ (Ctrl-C to stop)")
    check(
        run(
            settings,
            "docs",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(settings.docs_port),
            "--no-browser",
            echo=echo,
        )
    )
