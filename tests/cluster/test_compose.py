"""docker-compose.yml, checked by a real Compose implementation (no Docker engine needed).

``docker compose config`` (the compose plugin) when the docker CLI has it, else Debian's
``docker-compose``; ``./dev test`` installs the latter when neither is there.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from services import container
from tests.locks import locked_versions
from ventes import settings, spark
from ventes.settings import PROJECT_ROOT

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
ENV_EXAMPLE = PROJECT_ROOT / ".env.example"
BROKERS = ("broker1", "broker2", "broker3")
PROJECT_SERVICES = (
    "kafka-init", "spark-master", "spark-worker-1", "spark-worker-2", "thrift", "bronze", "airflow-init",
    "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "dashboard", "dbt-docs",
)  # fmt: skip
ONE_SHOT = ("kafka-init", "airflow-init")


def _works(command: list[str]) -> bool:
    try:
        return subprocess.run(command, capture_output=True, timeout=30, check=False).returncode == 0
    except OSError:
        return False


@pytest.fixture(scope="module")
def compose() -> list[str]:
    if _works(["docker", "compose", "version"]):
        return ["docker", "compose"]
    if shutil.which("docker-compose") and _works(["docker-compose", "version"]):
        return ["docker-compose"]
    pytest.fail("no Compose implementation: install Debian's docker-compose (./dev test does)")


def _run(compose: list[str], compose_file: Path, env_file: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*compose, "--project-directory", str(PROJECT_ROOT), "--env-file", str(env_file),
         "-f", str(compose_file), "config", *args],
        capture_output=True, text=True, timeout=60, check=False,
        # Only the env file speaks: a developer's own POSTGRES_PASSWORD must not leak in.
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(Path.home())},
    )  # fmt: skip


@pytest.fixture(scope="module")
def filled_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """.env.example with a placeholder in each value left for the user to fill."""
    lines = [
        f"{line}placeholder{line[:-1].lower().replace('_', '')}0" if re.fullmatch(r"[A-Z_]+=", line) else line
        for line in ENV_EXAMPLE.read_text().splitlines()
    ]
    path = tmp_path_factory.mktemp("compose") / ".env"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def resolved(compose: list[str], filled_env: Path) -> dict:
    result = _run(compose, COMPOSE_FILE, filled_env)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_compose_file_is_valid(compose: list[str], filled_env: Path) -> None:
    result = _run(compose, COMPOSE_FILE, filled_env, "-q")
    assert result.returncode == 0, result.stderr


def test_every_required_variable_is_in_env_example() -> None:
    required = set(re.findall(r"\$\{([A-Z_]+):\?", COMPOSE_FILE.read_text()))
    listed = set(re.findall(r"^([A-Z_]+)=", ENV_EXAMPLE.read_text(), re.MULTILINE))
    assert required, "credentials must come from the environment"
    assert required <= listed, f"missing from .env.example: {sorted(required - listed)}"


def test_credentials_are_never_defaults(compose: list[str], tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = _run(compose, COMPOSE_FILE, empty, "-q")
    assert result.returncode != 0
    assert "in .env" in result.stderr  # the message says which variable to set, and where


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda text: text.replace("    healthcheck:\n      test: [\"CMD\", \"/app/docker/entrypoint.sh\", "
                                   "\"health\", \"thrift\"]", "    helthcheck:\n      test: [\"CMD\"]"),
         "unknown key"),
        (lambda text: text.replace("spark-worker-2: {condition: service_healthy}",
                                   "spark-worker-9: {condition: service_healthy}"),
         "depends on a service that does not exist"),
        (lambda text: text.replace("condition: service_completed_successfully",
                                   "condition: service_finished", 1),
         "unknown depends_on condition"),
        (lambda text: text.replace("  dashboard:\n", "  dashboard:\n   broken-indent: [\n", 1),
         "not YAML"),
    ],
    ids=["unknown-key", "missing-dependency", "bad-condition", "bad-yaml"],
)  # fmt: skip
def test_parser_rejects_a_broken_file(
    compose: list[str], filled_env: Path, tmp_path: Path, change, why
) -> None:
    text = COMPOSE_FILE.read_text()
    broken = change(text)
    assert broken != text, f"the mutation ({why}) did not apply"
    path = tmp_path / "docker-compose.yml"
    path.write_text(broken)
    result = _run(compose, path, filled_env, "-q")
    assert result.returncode != 0, f"{why}: accepted"


def test_three_kraft_brokers_and_a_replicated_topic(resolved: dict) -> None:
    services = resolved["services"]
    voters = "1@broker1:9093,2@broker2:9093,3@broker3:9093"
    for node_id, name in enumerate(BROKERS, start=1):
        broker = services[name]
        assert broker["image"].startswith("apache/kafka:")
        env = broker["environment"]
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert str(env["KAFKA_NODE_ID"]) == str(node_id)
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == voters
        assert env["KAFKA_ADVERTISED_LISTENERS"].startswith(f"PLAINTEXT://{name}:9092")
    cluster_ids = {services[b]["environment"]["CLUSTER_ID"] for b in BROKERS}
    assert len(cluster_ids) == 1
    init = services["kafka-init"]
    assert init["command"] == ["kafka-topic", "--replication-factor", "3", "--min-insync-replicas", "2"]
    assert {b: {"condition": "service_healthy"} for b in BROKERS}.items() <= init["depends_on"].items()


def test_same_code_only_the_environment_differs(resolved: dict) -> None:
    services = resolved["services"]
    for name in PROJECT_SERVICES:
        service = services[name]
        assert service["image"].startswith("ventes:"), name
        env = service["environment"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "broker1:9092,broker2:9092,broker3:9092", name
        assert env["SPARK_MASTER"] == "spark://spark-master:7077", name
        # Where the Thrift server is; it listens on each of its networks.
        assert env["THRIFT_HOST"] == ("0.0.0.0" if name == "thrift" else "thrift"), name
        assert env["DELTA_ROOT"] == "/delta", name
    # Only the Thrift server registers tables: it alone reaches the metastore.
    assert [name for name in services if "METASTORE_URL" in services[name].get("environment", {})] == [
        "thrift"
    ]
    assert services["thrift"]["environment"]["METASTORE_URL"].startswith("jdbc:postgresql://postgres:5432/")
    # A Spark driver tells the executors where it is (they run in other containers), and
    # listens on each of its networks, where its name is one address only.
    for name in ("thrift", "bronze", "airflow-scheduler", "ventes"):
        assert services[name]["environment"]["SPARK_DRIVER_HOST"] == services[name]["hostname"]
        assert services[name]["environment"]["SPARK_DRIVER_BIND_ADDRESS"] == "0.0.0.0"


def _volumes(service: dict) -> list[tuple[str, str, bool]]:
    """(source, target, read-only) of each mount, whichever form the Compose implementation prints."""
    found = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target, *mode = volume.split(":")
            found.append((source, target, "ro" in ",".join(mode).split(",")))
        else:
            found.append((volume.get("source", ""), volume["target"], bool(volume.get("read_only"))))
    return found


def _mounts(service: dict) -> dict[str, str]:
    return {target: source for source, target, _ in _volumes(service)}


def test_the_lake_is_one_shared_volume(resolved: dict) -> None:
    services = resolved["services"]
    writers = ("spark-worker-1", "spark-worker-2", "thrift", "bronze", "airflow-scheduler", "dashboard")
    assert {_mounts(services[name]).get("/delta") for name in writers} == {"delta"}


def test_start_order_is_declared(resolved: dict) -> None:
    services = resolved["services"]
    long_running = [name for name in services if name not in (*ONE_SHOT, "ventes")]
    for name in long_running:
        assert "test" in services[name].get("healthcheck", {}), f"{name} has no health check"
    for name, service in services.items():
        for dependency, spec in service.get("depends_on", {}).items():
            expected = "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            assert spec["condition"] == expected, f"{name} -> {dependency}"
    scheduler = services["airflow-scheduler"]["depends_on"]
    assert {"airflow-init", "kafka-init", "thrift"} <= scheduler.keys()
    assert {"postgres", "spark-master"} <= services["thrift"]["depends_on"].keys()


def test_host_ports_are_loopback_only(resolved: dict) -> None:
    published = [port for service in resolved["services"].values() for port in service.get("ports", [])]
    assert published
    for port in published:
        host_ip = port.get("host_ip") if isinstance(port, dict) else port.split(":")[0]
        assert host_ip == "127.0.0.1", port
    ui_ports = {
        name: {str(p["published"] if isinstance(p, dict) else p.split(":")[1]) for p in s.get("ports", [])}
        for name, s in resolved["services"].items()
    }
    assert "5000" in ui_ports["dashboard"] and "8081" in ui_ports["dbt-docs"]


def test_every_command_is_a_role_the_image_knows(resolved: dict) -> None:
    """Each project container's command and health check parse as the entrypoint's roles do."""
    entrypoint = (PROJECT_ROOT / "docker" / "entrypoint.sh").read_text()
    serve_roles = set(re.search(r"\n  (spark-master \| [^)]+)\)", entrypoint).group(1).split(" | "))
    shell_roles = {"thrift", "dashboard", "bronze", "dbt-docs", "airflow-init"}
    parser = container.build_parser()
    bin_dir = Path(sys.executable).parent
    for name, service in resolved["services"].items():
        if not service.get("image", "").startswith("ventes:"):
            continue
        argv = list(service["command"])
        health = service.get("healthcheck", {}).get("test", [])
        checks = [argv]
        if health[:2] == ["CMD", "/app/docker/entrypoint.sh"]:
            checks.append(health[2:])
        elif health:
            checks.append(health[1:])
        for role, *args in checks:
            if role in serve_roles:
                parser.parse_args([role, *args])  # exits (fails the test) on a bad argument
            else:
                assert role in shell_roles or (bin_dir / role).exists(), f"{name}: unknown role {role!r}"


# --- Who holds which credential, and who can reach whom ------------------------------------
#
# Each property is a check on the resolved configuration, so that the same check can be shown to
# fail on a copy of the file broken on purpose (test_a_weakened_copy_is_caught).


def _secrets(filled_env: Path) -> dict[str, str]:
    """The values .env gives (the placeholders: each names its variable)."""
    return dict(re.findall(r"^([A-Z_]+)=(placeholder\S+)$", filled_env.read_text(), re.MULTILINE))


def _holders(resolved: dict, value: str) -> set[str]:
    """The services whose environment holds ``value``, alone or inside another value (a URL)."""
    return {
        name
        for name, service in resolved["services"].items()
        if any(value in str(v) for v in service.get("environment", {}).values())
    }


SPARK_JVMS = {
    "spark-master",
    "spark-worker-1",
    "spark-worker-2",
    "thrift",
    "bronze",
    "airflow-scheduler",
    "ventes",
}
AIRFLOW_DB_USERS = {"airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor"}


def check_the_spark_secret(resolved: dict, secrets: dict[str, str]) -> None:
    """Every Spark JVM authenticates with the cluster's secret; no other container holds it."""
    services = resolved["services"]
    for name in SPARK_JVMS:
        loaded = settings.load(services[name]["environment"])
        assert loaded.spark_auth_secret == secrets["SPARK_AUTH_SECRET"], name
        assert spark.auth_conf(loaded)["spark.authenticate"] == "true", name
    assert _holders(resolved, secrets["SPARK_AUTH_SECRET"]) == SPARK_JVMS


def check_database_credentials(resolved: dict, secrets: dict[str, str]) -> None:
    """The PostgreSQL superuser stays in its container; each role's password goes to its users."""
    services = resolved["services"]
    assert _holders(resolved, secrets["POSTGRES_PASSWORD"]) == {"postgres"}
    assert [n for n, s in services.items() if "POSTGRES_PASSWORD" in s.get("environment", {})] == ["postgres"]
    assert _holders(resolved, secrets["AIRFLOW_DB_PASSWORD"]) == {"postgres"} | AIRFLOW_DB_USERS
    assert _holders(resolved, secrets["METASTORE_DB_PASSWORD"]) == {"postgres", "thrift"}
    # The URLs log in as the roles, not as the superuser.
    superuser = services["postgres"]["environment"]["POSTGRES_USER"]
    airflow_url = services["airflow-scheduler"]["environment"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert airflow_url.startswith(f"postgresql+psycopg2://airflow:{secrets['AIRFLOW_DB_PASSWORD']}@")
    assert "user=metastore&" in services["thrift"]["environment"]["METASTORE_URL"]
    assert superuser not in ("airflow", "metastore")


def check_the_dashboard_holds_no_credential(resolved: dict, secrets: dict[str, str]) -> None:
    """The dashboard reads Delta files: no database, Spark or Airflow secret."""
    for variable, value in secrets.items():
        assert "dashboard" not in _holders(resolved, value), f"the dashboard holds {variable}"
    env = resolved["services"]["dashboard"]["environment"]
    assert not {"METASTORE_URL", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"} & env.keys()


AIRFLOW_SERVICES = AIRFLOW_DB_USERS
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"


def check_the_auth_manager(resolved: dict, secrets: dict[str, str]) -> None:
    """Multi-user FAB auth manager, not the development one; the admin password in airflow-init only."""
    services = resolved["services"]
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__AUTH_MANAGER"] == FAB_AUTH_MANAGER, name
        assert not [key for key in env if "SIMPLE_AUTH_MANAGER" in key], name
        assert env["AIRFLOW__API__SECRET_KEY"] == secrets["AIRFLOW_API_SECRET_KEY"], name
    assert _holders(resolved, secrets["AIRFLOW_ADMIN_PASSWORD"]) == {"airflow-init"}
    for variable in ("AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY"):
        assert _holders(resolved, secrets[variable]) == AIRFLOW_SERVICES, variable


def test_the_auth_manager(resolved: dict, filled_env: Path) -> None:
    check_the_auth_manager(resolved, _secrets(filled_env))


def test_the_image_has_the_fab_auth_manager() -> None:
    """The image installs the `cluster` extra, from requirements/run.lock."""
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    assert any(
        r.startswith("apache-airflow-providers-fab") for r in project["optional-dependencies"]["cluster"]
    )
    pins = locked_versions(PROJECT_ROOT / "requirements" / "run.lock")
    assert "apache-airflow-providers-fab" in pins
    # Installed here from the same pins, with the module the setting names (not imported:
    # importing Airflow here would configure it before the Airflow tests' fixtures do).
    installed = importlib.metadata.distribution("apache-airflow-providers-fab")
    assert installed.version == pins["apache-airflow-providers-fab"]
    module = FAB_AUTH_MANAGER.rpartition(".")[0].replace(".", "/") + ".py"
    assert module in {str(f) for f in installed.files or []}


def _networks(service: dict) -> set[str]:
    networks = service.get("networks", {})
    return set(networks if isinstance(networks, (dict, list)) else ())


def _peers(resolved: dict, name: str, network: str | None = None) -> set[str]:
    """The services sharing a network with ``name`` (or the given one of its networks)."""
    services = resolved["services"]
    mine = {network} if network else _networks(services[name])
    return {other for other, s in services.items() if other != name and _networks(s) & mine}


THRIFT_PEERS = {
    "spark-master", "spark-worker-1", "spark-worker-2", "bronze",  # the cluster running its queries
    "airflow-scheduler", "dbt-docs", "ventes",  # dbt
    "postgres",  # its metastore
}  # fmt: skip
SQL_CLIENTS = {"airflow-scheduler", "dbt-docs", "ventes"}


def check_the_thrift_server(resolved: dict, secrets: dict[str, str]) -> None:
    """Reached by the services that need it only, not published, and no volume but its own."""
    services = resolved["services"]
    thrift = services["thrift"]
    assert not thrift.get("ports"), "the Thrift server is published"
    assert _peers(resolved, "thrift") == THRIFT_PEERS
    assert "dashboard" not in _peers(resolved, "thrift")
    assert _peers(resolved, "thrift", "sql") == SQL_CLIENTS
    assert _mounts(thrift) == {"/delta": "delta", "/var/lib/ventes": "thrift"}
    assert "ventes_home" not in _mounts(thrift).values()  # Airflow's home, logs, dbt's state


def check_the_networks(resolved: dict, secrets: dict[str, str]) -> None:
    """The dashboard alone on its network; PostgreSQL on internal networks, one per database."""
    services, networks = resolved["services"], resolved["networks"]
    assert _peers(resolved, "dashboard") == set()
    assert _networks(services["postgres"]) == {"metastore-db", "airflow-db"}
    for network in _networks(services["postgres"]):
        assert (networks[network] or {}).get("internal") is True, network
    assert _peers(resolved, "postgres", "metastore-db") == {"thrift"}
    assert _peers(resolved, "postgres", "airflow-db") == AIRFLOW_DB_USERS
    for name, service in services.items():
        assert service.get("networks"), f"{name} is on the default network, shared by all"


def test_the_thrift_server(resolved: dict, filled_env: Path) -> None:
    check_the_thrift_server(resolved, _secrets(filled_env))


def test_the_networks(resolved: dict, filled_env: Path) -> None:
    check_the_networks(resolved, _secrets(filled_env))


def test_the_thrift_port_is_published_on_demand(compose: list[str], filled_env: Path) -> None:
    """docker-compose.thrift-port.yml publishes it, on the host's loopback only."""
    override = PROJECT_ROOT / "docker-compose.thrift-port.yml"
    result = subprocess.run(
        [*compose, "--project-directory", str(PROJECT_ROOT), "--env-file", str(filled_env),
         "-f", str(COMPOSE_FILE), "-f", str(override), "config"],
        capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(Path.home())},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    published = {name for name, s in services.items() if s.get("ports")}
    assert published == {n for n, s in _base_services(compose, filled_env).items() if s.get("ports")} | {
        "thrift"
    }
    (port,) = services["thrift"]["ports"]
    host_ip, published_port = (port["host_ip"], str(port["published"])) if isinstance(port, dict) else (
        port.split(":")[0], port.split(":")[1])  # fmt: skip
    assert (host_ip, published_port) == ("127.0.0.1", "10000")


def _base_services(compose: list[str], filled_env: Path) -> dict:
    result = _run(compose, COMPOSE_FILE, filled_env)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]


# The brokers' image writes its generated configuration and logs under /opt/kafka at each start.
WRITABLE_ROOT = set(BROKERS)


def check_the_containers(resolved: dict, secrets: dict[str, str]) -> None:
    """No capability, no privilege escalation; read-only root file systems, /tmp on tmpfs."""
    for name, service in resolved["services"].items():
        assert service.get("cap_drop") == ["ALL"], f"{name} keeps capabilities"
        assert not service.get("cap_add") and not service.get("privileged"), name
        assert "no-new-privileges:true" in service.get("security_opt", []), f"{name} may gain privileges"
        if name in WRITABLE_ROOT:
            continue
        assert service.get("read_only") is True, f"{name}: writable root file system"
        assert "/tmp" in [t.split(":")[0] for t in service.get("tmpfs", [])], f"{name}: no tmpfs /tmp"
        # As the image's unprivileged user (PostgreSQL's as its own, so it needs no capability).
        assert service.get("user") == ("postgres" if name == "postgres" else None), f"{name} user"


def check_the_image(dockerfile: str) -> None:
    """The code is root's: copied as root, never handed to the service user, which runs it."""
    instructions = [line.split(None, 1) for line in re.sub(r"\\\n", " ", dockerfile).splitlines()]
    instructions = [
        (i[0].upper(), i[1] if len(i) > 1 else "") for i in instructions if i and not i[0].startswith("#")
    ]
    users = [arg.strip() for op, arg in instructions if op == "USER"]
    assert users and users[-1] == "ventes", users
    last_user = max(i for i, (op, _) in enumerate(instructions) if op == "USER")
    for index, (op, arg) in enumerate(instructions):
        if op in ("COPY", "ADD"):
            assert "--chown" not in arg and "--chmod" not in arg, arg
            assert index < last_user, f"{op} {arg}: copied after USER"
        if op == "RUN":
            assert not re.search(r"\bch(own|mod)\b[^&;]*/app\b", arg), arg
            assert not re.search(r"-o ventes[^&;]*/app\b", arg), arg


def test_the_containers(resolved: dict, filled_env: Path) -> None:
    check_the_containers(resolved, _secrets(filled_env))


def test_the_image_keeps_the_code_root_s() -> None:
    check_the_image((PROJECT_ROOT / "Dockerfile").read_text())


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("    && install -d -o ventes -g ventes -m 0750 \"$DELTA_ROOT\"",
         "    && install -d -o ventes -g ventes -m 0750 \"$DELTA_ROOT\" \\\n    && chown -R ventes /app"),
        ("COPY . .", "COPY --chown=ventes . ."),
        ("USER ventes", "USER root"),
        ("ENTRYPOINT", "USER root\nENTRYPOINT"),
    ],
    ids=["chown-app", "copy-chown", "runs-as-root", "root-at-the-end"],
)  # fmt: skip
def test_an_image_handing_over_its_code_is_caught(old: str, new: str) -> None:
    text = (PROJECT_ROOT / "Dockerfile").read_text()
    assert old in text
    with pytest.raises(AssertionError):
        check_the_image(text.replace(old, new, 1))


def test_the_spark_secret(resolved: dict, filled_env: Path) -> None:
    check_the_spark_secret(resolved, _secrets(filled_env))


def test_database_credentials(resolved: dict, filled_env: Path) -> None:
    check_database_credentials(resolved, _secrets(filled_env))


def test_the_dashboard_holds_no_credential(resolved: dict, filled_env: Path) -> None:
    check_the_dashboard_holds_no_credential(resolved, _secrets(filled_env))


def test_postgres_runs_the_roles_script_on_its_first_start(resolved: dict) -> None:
    postgres = resolved["services"]["postgres"]
    (source, read_only), *_ = [
        (s, ro) for s, t, ro in _volumes(postgres) if t == "/docker-entrypoint-initdb.d"
    ]
    assert read_only and Path(source) == PROJECT_ROOT / "docker" / "postgres"
    script = PROJECT_ROOT / "docker" / "postgres" / "10-roles.sh"
    assert os.access(script, os.X_OK)  # the image runs it (a script not executable is sourced)


# (what the broken copy does, the text replaced, its replacement, the check that must catch it)
WEAKENED = [
    ("spark-secret-missing", "      <<: [*ventes-env, *spark-auth]\n      SPARK_DRIVER_HOST: bronze",
     "      <<: *ventes-env\n      SPARK_DRIVER_HOST: bronze", check_the_spark_secret),
    ("spark-secret-everywhere", "x-ventes-env: &ventes-env\n",
     "x-ventes-env: &ventes-env\n  SPARK_AUTH_SECRET: ${SPARK_AUTH_SECRET:?}\n", check_the_spark_secret),
    ("superuser-for-the-metastore", "user=${METASTORE_DB_USER:-metastore}&password=${METASTORE_DB_PASSWORD:?",
     "user=${POSTGRES_USER:-postgres}&password=${POSTGRES_PASSWORD:?", check_database_credentials),
    ("superuser-for-airflow", "${AIRFLOW_DB_USER:-airflow}:${AIRFLOW_DB_PASSWORD:?",
     "${POSTGRES_USER:-postgres}:${POSTGRES_PASSWORD:?", check_database_credentials),
    ("simple-auth-manager", "fab_auth_manager.FabAuthManager",
     "fab_auth_manager.FabAuthManager\n  AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS: admin:admin",
     check_the_auth_manager),
    ("admin-password-for-all", "x-airflow-env: &airflow-env\n",
     "x-airflow-env: &airflow-env\n  AIRFLOW_ADMIN_PASSWORD: ${AIRFLOW_ADMIN_PASSWORD:?}\n",
     check_the_auth_manager),
    ("thrift-published", "    # Not published: docker-compose.thrift-port.yml",
     "    ports: [\"127.0.0.1:10000:10000\"]\n    # Not published: docker-compose.thrift-port.yml",
     check_the_thrift_server),
    ("thrift-beside-the-dashboard", "    networks: [dashboard]", "    networks: [dashboard, sql]",
     check_the_thrift_server),
    ("thrift-sees-ventes-home", "      - thrift:/var/lib/ventes", "      - ventes_home:/var/lib/ventes",
     check_the_thrift_server),
    ("thrift-on-kafka", "    networks: [spark, sql, metastore-db]",
     "    networks: [spark, sql, metastore-db, kafka]", check_the_thrift_server),
    ("postgres-reachable", "  metastore-db:\n    internal: true\n", "  metastore-db:\n", check_the_networks),
    ("default-network", "    networks: [dashboard]\n", "", check_the_networks),
    ("capabilities-kept", "x-confined: &confined\n  cap_drop: [ALL]\n", "x-confined: &confined\n",
     check_the_containers),
    ("privileges-gained", '  security_opt: ["no-new-privileges:true"]\n', "", check_the_containers),
    ("writable-root", "  read_only: true\n  tmpfs: [/tmp]\n", "  tmpfs: [/tmp]\n", check_the_containers),
    ("no-tmp", "    tmpfs: [/tmp, \"/var/lib/ventes:", "    tmpfs: [\"/var/lib/ventes:",
     check_the_containers),
    ("postgres-as-root", "    user: postgres\n", "", check_the_containers),
    ("metastore-url-for-all", "x-ventes-env: &ventes-env\n",
     "x-ventes-env: &ventes-env\n  METASTORE_URL: jdbc:postgresql://postgres/m?password=${METASTORE_DB_PASSWORD:?}\n",
     check_the_dashboard_holds_no_credential),
]  # fmt: skip


@pytest.mark.parametrize(("change", "old", "new", "check"), WEAKENED, ids=[w[0] for w in WEAKENED])
def test_a_weakened_copy_is_caught(
    compose: list[str], filled_env: Path, tmp_path: Path, change: str, old: str, new: str, check
) -> None:
    text = COMPOSE_FILE.read_text()
    assert old in text, f"{change}: the text to replace is not in docker-compose.yml"
    path = tmp_path / "docker-compose.yml"
    path.write_text(text.replace(old, new, 1))
    result = _run(compose, path, filled_env)
    assert result.returncode == 0, result.stderr
    with pytest.raises(AssertionError):
        check(yaml.safe_load(result.stdout), _secrets(filled_env))
