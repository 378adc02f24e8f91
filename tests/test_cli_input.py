"""Bad command-line input: one line naming the argument or variable and what it allows, exit 2.

No service is needed: every case is refused before anything starts.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stack import cli, processes

SERVICE_NAMES = [svc.name for svc in processes.SERVICES]
KNOWN = ", ".join(SERVICE_NAMES)

# (argv, the error line after "ventes <cmd>: error: ")
BAD_ARGUMENTS = [
    (["up", "kafak"], f"argument SERVICE: unknown service 'kafak'; known: {KNOWN}"),
    (["down", "kafak"], f"argument SERVICE: unknown service 'kafak'; known: {KNOWN}"),
    (["up", "kafka", "Thrift"], f"argument SERVICE: unknown service 'Thrift'; known: {KNOWN}"),
    (["produce", "--count", "0"], "argument --count: must be a positive integer, got '0'"),
    (["produce", "--count", "-3"], "argument --count: must be a positive integer, got '-3'"),
    (["produce", "--count", "many"], "argument --count: must be a positive integer, got 'many'"),
    (["produce", "--count", "5", "--rate", "-5"], "argument --rate: must be a positive number, got '-5'"),
    (["produce", "--rate", "0"], "argument --rate: must be a positive number, got '0'"),
    (["produce", "--rate", "nan"], "argument --rate: must be a positive number, got 'nan'"),
    (["produce", "--rate", "inf"], "argument --rate: must be a positive number, got 'inf'"),
    (["produce", "--rate", "fast"], "argument --rate: must be a positive number, got 'fast'"),
    (["produce", "--seed", "1.5"], "argument --seed: must be an integer, got '1.5'"),
    (["produce", "--bad-ratio", "1.5"], "argument --bad-ratio: must be a number between 0 and 1, got '1.5'"),
    (["produce", "--bad-ratio", "nan"], "argument --bad-ratio: must be a number between 0 and 1, got 'nan'"),
    (["produce", "--bad-ratio", "-1"], "argument --bad-ratio: must be a number between 0 and 1, got '-1'"),
    (["ingest", "--folow"], "unrecognized arguments: --folow"),
    (["status", "extra"], "unrecognized arguments: extra"),
]  # fmt: skip


@pytest.fixture(autouse=True)
def _private_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Never the developer's stack, whatever slips through."""
    monkeypatch.setenv("VENTES_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DELTA_ROOT", raising=False)


@pytest.mark.parametrize(("argv", "error"), BAD_ARGUMENTS)
def test_bad_argument_is_one_line_and_exit_2(
    argv: list[str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == 2
    # argparse reports unrecognized arguments from the top-level parser: "ventes: error: ..."
    prog = "ventes" if error.startswith("unrecognized") else f"ventes {argv[0]}"
    assert capsys.readouterr().err.splitlines()[-1] == f"{prog}: error: {error}"


GOOD_ARGUMENTS = [
    (["up"], {"services": []}),
    (["up", "kafka", "thrift"], {"services": ["kafka", "thrift"]}),
    (["down", *SERVICE_NAMES], {"services": SERVICE_NAMES}),
    (["produce", "--count", "5", "--rate", "0.5"], {"count": 5, "rate": 0.5}),
    (["produce", "--seed", "-7", "--bad-ratio", "1"], {"seed": -7, "bad_ratio": 1.0}),
    (["produce", "--bad-ratio", "0"], {"bad_ratio": 0.0, "rate": None, "count": 50}),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "expected"), GOOD_ARGUMENTS)
def test_good_arguments_parse(argv: list[str], expected: dict[str, object]) -> None:
    args = cli.build_parser().parse_args(argv)
    assert {key: getattr(args, key) for key in expected} == expected


# (variable, value, the error line after "ventes <cmd>: error: ")
BAD_SETTINGS = [
    ("KAFKA_BOOTSTRAP_SERVERS", "host:abc",
     "KAFKA_BOOTSTRAP_SERVERS must be a comma-separated list of host:port, ports 1..65535, got 'host:abc'"),
    ("THRIFT_PORT", "99999", "THRIFT_PORT must be a port number 1..65535, got '99999'"),
    ("DASHBOARD_PORT", "http", "DASHBOARD_PORT must be a port number 1..65535, got 'http'"),
    ("KAFKA_PARTITIONS", "0", "KAFKA_PARTITIONS must be an integer 1..10000, got '0'"),
]  # fmt: skip


@pytest.mark.parametrize("command", ["status", "up", "down", "produce", "ingest", "transform", "run", "docs"])
@pytest.mark.parametrize(("name", "value", "error"), BAD_SETTINGS)
def test_bad_setting_is_one_line_and_exit_2(
    command: str,
    name: str,
    value: str,
    error: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(name, value)
    assert cli.main([command]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"ventes {command}: error: {error}\n"
    assert captured.out == ""


def test_several_bad_settings_give_one_line_each(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("THRIFT_PORT", "99999")
    monkeypatch.setenv("SPARK_MASTER", "laptop")
    assert cli.main(["status"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(": error: ")[1].split()[0] for line in lines] == ["SPARK_MASTER", "THRIFT_PORT"]
    assert all(line.startswith("ventes status: error: ") for line in lines)


def test_the_installed_command_exits_2_without_a_traceback(tmp_path: Path) -> None:
    ventes = Path(sys.executable).parent / "ventes"
    env = {"PATH": "/usr/bin:/bin", "VENTES_HOME": str(tmp_path), "KAFKA_BOOTSTRAP_SERVERS": "host:abc"}
    done = subprocess.run([ventes, "status"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"ventes status: error: {BAD_SETTINGS[0][2]}"]
    done = subprocess.run([ventes, "up", "kafak"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == f"ventes up: error: {BAD_ARGUMENTS[0][1]}"
