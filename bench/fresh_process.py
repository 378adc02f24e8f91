"""Run a benchmark's contender in a fresh Python process with a fresh VENTES_HOME."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.ports import stack_env

ROOT = Path(__file__).resolve().parent.parent


def run_child(script: str, *args: str, env: Mapping[str, str] | None = None, timeout: float = 900) -> Any:
    """``script *args`` in a new interpreter, in a new VENTES_HOME on reserved loopback ports
    (removed afterwards), with ``env`` over the environment; what the child printed last, as JSON.
    A failing child ends the benchmark with its output."""
    home = Path(tempfile.mkdtemp(prefix="ventes-bench-"))
    child_env = {
        **os.environ,
        **stack_env(home),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        **(env or {}),
    }
    try:
        done = subprocess.run(
            [sys.executable, script, *args],
            env=child_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=ROOT,
        )
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(home, ignore_errors=True)
