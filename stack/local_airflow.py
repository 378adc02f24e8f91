"""Local Airflow 3: its configuration under ``VENTES_HOME``, its metadata DB, the admin password,
and one supervised service running the API server, the scheduler and the DAG processor.

``prepare`` (run by ``ventes up`` before starting the service) writes ``AIRFLOW_HOME/airflow.cfg``
(SQLite, LocalExecutor, the project's ``dags/``, loopback only), generates the admin password
once, migrates the metadata DB when the installed Airflow changed, and compiles the dbt manifest
the DAG renders its dbt tasks from. ``serve`` is the service itself: it starts the three Airflow
components, each with its own log file, and stops them all when it is told to stop or one dies.
"""

from __future__ import annotations

import configparser
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from services.catalogue import Service
from transformation.manifest import compile_manifest
from ventes import logfiles
from ventes import settings as settings_module
from ventes.errors import VentesError
from ventes.settings import Settings
from ventes.spark import child_env

BIN = Path(sys.executable).parent
# Task logs are files the API server reads directly: no log server (it would take port 8793).
COMPONENTS = {
    "api-server": (),
    "scheduler": ("--skip-serve-logs",),
    "dag-processor": (),
}
ADMIN_USER = "admin"
HOST = "127.0.0.1"
# Airflow's processes create files for their owner alone: the metadata DB holds connections,
# variables and the run history, the task logs what the tasks printed.
UMASK = 0o077


# --- where things live ---------------------------------------------------------------------


def config_file(settings: Settings) -> Path:
    return settings.airflow_home / "airflow.cfg"


def password_file(settings: Settings) -> Path:
    """The admin password, in the JSON form Airflow's SimpleAuthManager reads."""
    return settings.airflow_home / "simple_auth_manager_passwords.json"


def database_file(settings: Settings) -> Path:
    return settings.airflow_home / "airflow.db"


def task_log_dir(settings: Settings) -> Path:
    return settings.airflow_home / "logs"


def component_log(settings: Settings, component: str) -> Path:
    return settings.log_dir / f"airflow-{component}.log"


def url(settings: Settings) -> str:
    return f"http://{HOST}:{settings.airflow_port}"


# --- configuration -------------------------------------------------------------------------


def _options(settings: Settings, previous: configparser.ConfigParser) -> dict[str, dict[str, str]]:
    """The options this project owns; secrets are generated once and then kept."""

    def kept(section: str, option: str, make: Callable[[], str]) -> str:
        return previous.get(section, option, fallback="") or make()

    def fernet_key() -> str:
        from cryptography.fernet import Fernet

        return Fernet.generate_key().decode()

    home = settings.airflow_home
    return {
        "core": {
            "dags_folder": str(settings.dags_dir),
            "executor": "LocalExecutor",
            "load_examples": "False",
            # LocalExecutor keeps this many worker processes. One holds the dbt build while the
            # others run the sensor tasks reporting its models, at most six at once (the models
            # that read ventes_clean); they mostly wait, and the Thrift server does the work.
            "parallelism": "8",
            "dags_are_paused_at_creation": "True",
            "auth_manager": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
            "simple_auth_manager_users": f"{ADMIN_USER}:admin",
            "simple_auth_manager_passwords_file": str(password_file(settings)),
            "execution_api_server_url": f"{url(settings)}/execution/",
            "fernet_key": kept("core", "fernet_key", fernet_key),
        },
        "database": {"sql_alchemy_conn": f"sqlite:///{database_file(settings)}"},
        "api": {
            "host": HOST,
            "port": str(settings.airflow_port),
            "base_url": url(settings),
            "workers": "1",
        },
        # 64 bytes or more: the JWTs are signed with HMAC-SHA512.
        "api_auth": {"jwt_secret": kept("api_auth", "jwt_secret", lambda: secrets.token_urlsafe(64))},
        "logging": {
            "base_log_folder": str(task_log_dir(settings)),
            # Airflow sets these modes on the task logs it creates, whatever the umask.
            "file_task_handler_new_folder_permissions": "0o700",
            "file_task_handler_new_file_permissions": "0o600",
        },
        "cosmos": {
            "enable_telemetry": "False",
            # The watcher's producer backs up each node's status to an Airflow Variable as it
            # goes (a metadata DB write per node, during the build); off, it backs them up once
            # when the build fails, which is when a retry needs them.
            "enable_watcher_reliable_retry": "False",
            "cache_dir": str(home / "cosmos_cache"),
        },
    }


def configure(settings: Settings) -> str | None:
    """Write ``airflow.cfg`` (keeping its secrets and any option added by hand) and the admin
    password file. Returns the password when it was generated now, else None."""
    _private_home(settings)
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(config_file(settings))
    for section, options in _options(settings, parser).items():
        if not parser.has_section(section):
            parser.add_section(section)
        for option, value in options.items():
            parser.set(section, option, value)
    _write_private(config_file(settings), lambda out: parser.write(out))

    path = password_file(settings)
    passwords = json.loads(path.read_text()) if path.exists() else {}
    if passwords.get(ADMIN_USER):
        return None
    passwords[ADMIN_USER] = secrets.token_urlsafe(12)
    _write_private(path, lambda out: out.write(json.dumps(passwords) + "\n"))
    return passwords[ADMIN_USER]


def _private_home(settings: Settings) -> None:
    """AIRFLOW_HOME for its owner alone, also when made before it was private (the files Airflow
    creates are private by its umask, UMASK)."""
    home = settings.airflow_home
    settings.make_home()
    home.mkdir(mode=0o700, exist_ok=True)
    home.chmod(0o700)
    if database_file(settings).exists():
        database_file(settings).chmod(0o600)


def _write_private(path: Path, write: Callable) -> None:
    """Write a file only its owner can read (it holds secrets)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        write(out)


def airflow_env(settings: Settings) -> dict[str, str]:
    """The environment of an Airflow process: the project's settings and AIRFLOW_HOME."""
    env = child_env(settings)  # AIRFLOW_HOME is one of the settings children see
    env["AIRFLOW_CONFIG"] = str(config_file(settings))
    return env


def airflow_command(settings: Settings, *args: str, timeout: float = 600) -> str:
    """Run an ``airflow`` CLI command against the local Airflow; one clear error if it fails."""
    result = subprocess.run(
        [str(BIN / "airflow"), *args],
        env=airflow_env(settings),
        cwd=settings.airflow_home,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        umask=UMASK,
    )
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or [""]
        raise VentesError(f"airflow {' '.join(args)} failed: {tail[0][:300]}")
    return result.stdout


def migrate(settings: Settings) -> bool:
    """``airflow db migrate`` on first start and whenever the installed Airflow changed."""
    stamp = settings.airflow_home / ".migrated"
    version = metadata.version("apache-airflow-core")
    if database_file(settings).exists() and stamp.exists() and stamp.read_text().strip() == version:
        return False
    airflow_command(settings, "db", "migrate")
    stamp.write_text(version)
    return True


def prepare(settings: Settings) -> None:
    """Everything Airflow needs before it starts; safe and fast to run again."""
    password = configure(settings)
    if password is not None:
        print(
            f"airflow    admin password (shown once): {password}\n"
            f"           user {ADMIN_USER}; kept in {password_file(settings)}"
        )
    migrate(settings)
    refresh_manifest(settings)


def refresh_manifest(settings: Settings) -> None:
    """Compile the dbt manifest if the project changed (also on `ventes up` of a running Airflow)."""
    try:
        compile_manifest(settings)
    except (VentesError, OSError) as exc:
        # Airflow still runs: the DAG then renders dbt from `dbt ls`, or shows the dbt error.
        print(f"airflow    warning: no dbt manifest ({exc})")


# --- health --------------------------------------------------------------------------------


def health(settings: Settings) -> dict[str, str] | None:
    """Status of each component as the API server reports it, or None if it does not answer."""
    try:
        with urllib.request.urlopen(f"{url(settings)}/api/v2/monitor/health", timeout=3) as response:
            body = json.load(response)
    except (OSError, ValueError):
        return None
    return {name: (info or {}).get("status") or "absent" for name, info in body.items()}


def healthy(settings: Settings) -> bool:
    status = health(settings)
    return status is not None and all(
        status.get(name) == "healthy" for name in ("metadatabase", "scheduler", "dag_processor")
    )


# --- the service ---------------------------------------------------------------------------


def service_command(settings: Settings) -> list[str]:
    return [sys.executable, "-m", "stack.local_airflow"]


def serve(settings: Settings, poll: float = 1.0, grace: float = 25.0) -> int:
    """Run the three components until told to stop (SIGTERM/SIGINT) or one of them exits."""
    os.umask(UMASK)
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    env = airflow_env(settings)
    procs: dict[str, subprocess.Popen] = {}
    for component, args in COMPONENTS.items():
        logfiles.rotate(component_log(settings, component))
        with open(component_log(settings, component), "ab") as log:
            procs[component] = subprocess.Popen(
                [str(BIN / "airflow"), component, *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=settings.airflow_home,
            )
        print(f"airflow {component} pid {procs[component].pid}, log {component_log(settings, component)}")
    code = 0
    while not stopping:
        for component, proc in procs.items():
            if proc.poll() is not None:
                print(f"airflow {component} exited with {proc.returncode}; stopping the others")
                code, stopping = 1, True
                break
        else:
            time.sleep(poll)
    for proc in procs.values():
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + grace
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
    _kill_rest_of_group()
    return code


def _kill_rest_of_group() -> None:
    """Kill what is left in this service's process group: LocalExecutor workers ignore SIGTERM
    and outlive a scheduler that did not stop them."""
    import psutil

    group = os.getpgid(0)
    for proc in psutil.process_iter():
        try:
            if proc.pid != os.getpid() and os.getpgid(proc.pid) == group:
                proc.kill()
        except (psutil.Error, ProcessLookupError):
            continue


# API server, scheduler and DAG processor under one supervisor, :func:`serve`.
AIRFLOW = Service(
    "airflow",
    port=lambda s: s.airflow_port,
    host=lambda s: HOST,
    command=service_command,
    healthy=healthy,
    prepare=prepare,
    on_ready=refresh_manifest,
    start_timeout=240.0,
    url=lambda s: url(s) + "/",
)


if __name__ == "__main__":
    sys.exit(serve(settings_module.load()))
