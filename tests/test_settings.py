"""Settings: defaults, overrides, and every variable validated once, with a one-line reason."""

from pathlib import Path

import pytest

from ventes import settings
from ventes.errors import VentesError


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "VENTES_HOME",
        "DELTA_ROOT",
        "KAFKA_BOOTSTRAP_SERVERS",
        "KAFKA_TOPIC",
        "SPARK_MASTER",
        "THRIFT_HOST",
        "THRIFT_PORT",
        "DASHBOARD_HOST",
        "DASHBOARD_PORT",
    ):
        monkeypatch.delenv(name, raising=False)
    s = settings.load()
    assert s.home == settings.PROJECT_ROOT / ".ventes"
    assert s.delta_root == s.home / "delta"
    assert s.bronze_path == s.home / "delta" / "bronze" / "ventes_raw"
    assert s.silver_path("hourly_sales") == s.home / "delta" / "silver" / "hourly_sales"
    assert s.kafka_bootstrap_servers == "localhost:9092"
    assert s.kafka_topic == "ventes_stream"
    assert s.spark_master == "local[*]"
    assert (s.thrift_host, s.thrift_port) == ("127.0.0.1", 10000)
    assert (s.dashboard_host, s.dashboard_port) == ("127.0.0.1", 5000)


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VENTES_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DELTA_ROOT", str(tmp_path / "lake"))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker1:29092,broker2:29092")
    monkeypatch.setenv("THRIFT_PORT", "10001")
    s = settings.load()
    assert s.home == tmp_path / "home"
    assert s.bronze_path == tmp_path / "lake" / "bronze" / "ventes_raw"
    assert s.kafka_host_port == ("broker1", 29092)
    assert s.thrift_port == 10001
    child = s.env_for_children()
    assert child["DELTA_ROOT"] == str(tmp_path / "lake")
    assert child["THRIFT_PORT"] == "10001"


def test_bad_port_is_a_readable_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHBOARD_PORT", "five thousand")
    with pytest.raises(
        ValueError, match=r"DASHBOARD_PORT must be a port number 1\.\.65535, got 'five thousand'"
    ):
        settings.load()


PORT = "a port number 1..65535"
SERVERS = "a comma-separated list of host:port, ports 1..65535"
HOST = "a host name or an IP address"
PORTS = ("KAFKA_CONTROLLER_PORT", "THRIFT_PORT", "DASHBOARD_PORT", "DBT_DOCS_PORT", "AIRFLOW_PORT")

# (variable, value, what the error says is allowed)
REFUSED = [
    *((port, value, PORT) for port in PORTS for value in ("0", "65536", "99999", "-1", "80a", "8.0", " x ")),
    ("KAFKA_BOOTSTRAP_SERVERS", "host:abc", SERVERS),
    ("KAFKA_BOOTSTRAP_SERVERS", "localhost", SERVERS),
    ("KAFKA_BOOTSTRAP_SERVERS", "localhost:0", SERVERS),
    ("KAFKA_BOOTSTRAP_SERVERS", "localhost:70000", SERVERS),
    ("KAFKA_BOOTSTRAP_SERVERS", "a:9092,", SERVERS),
    ("KAFKA_BOOTSTRAP_SERVERS", ":9092", SERVERS),
    ("KAFKA_BOOTSTRAP_SERVERS", "a b:9092", SERVERS),
    ("KAFKA_BOOTSTRAP_SERVERS", "::1:9092", SERVERS),
    ("KAFKA_BOOTSTRAP_SERVERS", "[nope]:9092", SERVERS),
    ("KAFKA_BOOTSTRAP_SERVERS", "PLAINTEXT://a:9092", SERVERS),
    ("KAFKA_BOOTSTRAP_SERVERS", "a:９０９２", SERVERS),
    ("KAFKA_TOPIC", "ventes stream", "1 to 249 characters"),
    ("KAFKA_TOPIC", "ventes/stream", "1 to 249 characters"),
    ("KAFKA_TOPIC", "..", "1 to 249 characters"),
    ("KAFKA_TOPIC", "t" * 250, "1 to 249 characters"),
    ("KAFKA_PARTITIONS", "0", "an integer 1..10000"),
    ("KAFKA_OPTS", "-Xmx1g Xss2m", "JVM options separated by spaces"),
    ("KAFKA_OPTS", "-cp /tmp", "JVM options separated by spaces"),
    ("KAFKA_OPTS", "-version", "JVM options separated by spaces"),
    ("KAFKA_PARTITIONS", "three", "an integer 1..10000"),
    ("KAFKA_PARTITIONS", "9" * 5000, "an integer 1..10000"),
    ("SPARK_MASTER", "spark://master", "local, local[N], local[*], spark://host:port"),
    ("SPARK_MASTER", "local[0]", "local, local[N], local[*], spark://host:port"),
    ("SPARK_MASTER", "lokal[*]", "local, local[N], local[*], spark://host:port"),
    ("SPARK_MASTER", "spark://m:7077,", "local, local[N], local[*], spark://host:port"),
    ("THRIFT_HOST", "host name", HOST),
    ("THRIFT_HOST", "thrift:10000", HOST),
    ("THRIFT_HOST", "999.1.1.1", HOST),
    ("DASHBOARD_HOST", "-leading-dash", HOST),
    ("SPARK_DRIVER_HOST", "a..b", HOST),
    ("SPARK_DRIVER_BIND_ADDRESS", "0.0.0.0:7078", HOST),
    ("MAX_OFFSETS_PER_TRIGGER", "0", "an integer 1..2147483647"),
    ("MAX_OFFSETS_PER_TRIGGER", "1e6", "an integer 1..2147483647"),
    ("PIPELINE_SCHEDULE", "every 15 minutes", "5 cron fields or one of @once"),
    ("PIPELINE_SCHEDULE", "* * * *", "5 cron fields or one of @once"),
    ("PIPELINE_SCHEDULE", "@sometimes", "5 cron fields or one of @once"),
    ("PIPELINE_RETRIES", "-1", "an integer 0..100"),
    ("PIPELINE_RETRY_DELAY", "0", "an integer 1..86400"),
    ("PIPELINE_RETRY_DELAY", "30s", "an integer 1..86400"),
    ("METASTORE_URL", "postgresql://db/metastore", "empty or a JDBC URL"),
    ("METASTORE_URL", "jdbc:postgresql://db/meta store", "empty or a JDBC URL"),
    ("DASHBOARD_STALE_AFTER", "-5", "an integer 1..2147483647"),
    ("VENTES_HOME", "/tmp/ventes\nhome", "a path without control characters"),
    ("DELTA_ROOT", "/tmp/lake\x00", "a path without control characters"),
    ("VENTES_JARS", "/tmp/jars\x1b", "a path without control characters"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "value", "allowed"), REFUSED)
def test_each_bad_value_is_refused_naming_the_variable(name: str, value: str, allowed: str) -> None:
    with pytest.raises(settings.SettingsError) as caught:
        settings.load({name: value})
    (problem,) = caught.value.problems
    assert problem.startswith(f"{name} must be {allowed}"), problem
    assert problem.endswith(f", got {value.strip()!r}"), problem
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, VentesError) and isinstance(caught.value, ValueError)


ACCEPTED = [
    ("THRIFT_PORT", "1", "thrift_port", 1),
    ("THRIFT_PORT", " 65535 ", "thrift_port", 65535),
    ("KAFKA_BOOTSTRAP_SERVERS", "broker1:19092, broker2:29092", "kafka_host_port", ("broker1", 19092)),
    ("KAFKA_BOOTSTRAP_SERVERS", " b1:19092 , b2:29092", "kafka_bootstrap_servers", "b1:19092,b2:29092"),
    ("KAFKA_BOOTSTRAP_SERVERS", "[::1]:9092", "kafka_host_port", ("::1", 9092)),
    ("KAFKA_BOOTSTRAP_SERVERS", "10.0.0.7:9092", "kafka_host_port", ("10.0.0.7", 9092)),
    ("KAFKA_TOPIC", "ventes.stream-2_b", "kafka_topic", "ventes.stream-2_b"),
    ("KAFKA_PARTITIONS", "12", "kafka_partitions", 12),
    ("KAFKA_OPTS", " -XX:TieredStopAtLevel=1  -Dx=y ", "kafka_opts", "-XX:TieredStopAtLevel=1 -Dx=y"),
    ("KAFKA_OPTS", "--add-opens=java.base/java.io=ALL", "kafka_opts", "--add-opens=java.base/java.io=ALL"),
    ("SPARK_MASTER", "local", "spark_master", "local"),
    ("SPARK_MASTER", "local[4]", "spark_master", "local[4]"),
    ("SPARK_MASTER", "local[4,2]", "spark_master", "local[4,2]"),
    ("SPARK_MASTER", "spark://spark-master:7077", "spark_master", "spark://spark-master:7077"),
    ("SPARK_MASTER", "spark://m1:7077,m2:7077", "spark_master", "spark://m1:7077,m2:7077"),
    ("THRIFT_HOST", "thrift", "thrift_host", "thrift"),
    ("THRIFT_HOST", "ventes_thrift_1", "thrift_host", "ventes_thrift_1"),
    ("DASHBOARD_HOST", "0.0.0.0", "dashboard_host", "0.0.0.0"),
    ("DASHBOARD_HOST", "::", "dashboard_host", "::"),
    ("PIPELINE_SCHEDULE", "0 9 * * MON-FRI", "pipeline_schedule", "0 9 * * MON-FRI"),
    ("PIPELINE_SCHEDULE", "@daily", "pipeline_schedule", "@daily"),
    ("PIPELINE_RETRIES", "0", "pipeline_retries", 0),
    ("METASTORE_URL", "jdbc:postgresql://db:5432/m?user=u&password=p", "metastore_url",
     "jdbc:postgresql://db:5432/m?user=u&password=p"),
    ("MAX_OFFSETS_PER_TRIGGER", "+1000", "max_offsets_per_trigger", 1000),
    ("DELTA_ROOT", "/tmp/it's a lake", "delta_root", Path("/tmp/it's a lake")),
    ("SPARK_DRIVER_HOST", "bronze", "spark_driver_bind_address", "bronze"),
    ("SPARK_DRIVER_BIND_ADDRESS", "0.0.0.0", "spark_driver_bind_address", "0.0.0.0"),
    ("SPARK_AUTH_SECRET", "0123456789abcdef", "spark_auth_secret", "0123456789abcdef"),
    ("SPARK_AUTH_SECRET", " Zm9vYmFyYmF6cXV4+/=._~- ", "spark_auth_secret", "Zm9vYmFyYmF6cXV4+/=._~-"),
    ("SPARK_AUTH_SECRET", "", "spark_auth_secret", ""),
]  # fmt: skip


@pytest.mark.parametrize(("name", "value", "attribute", "expected"), ACCEPTED)
def test_good_values_are_accepted(name: str, value: str, attribute: str, expected: object) -> None:
    assert getattr(settings.load({name: value}), attribute) == expected


def test_every_bad_variable_is_reported_at_once() -> None:
    with pytest.raises(settings.SettingsError) as caught:
        settings.load({"THRIFT_PORT": "99999", "KAFKA_BOOTSTRAP_SERVERS": "host:abc", "KAFKA_TOPIC": "ok"})
    assert [p.split()[0] for p in caught.value.problems] == ["KAFKA_BOOTSTRAP_SERVERS", "THRIFT_PORT"]
    assert str(caught.value) == "; ".join(caught.value.problems)


def test_defaults_are_valid() -> None:
    assert settings.load({}).kafka_host_port == ("localhost", 9092)


REFUSED_SECRETS = ["short", "0123456789abcde", "with a space 0123456789", "quote'0123456789abcdef",
                   "semi;colon0123456789", "é" * 20, "x" * 513]  # fmt: skip


@pytest.mark.parametrize("value", REFUSED_SECRETS)
def test_a_refused_secret_is_not_repeated(value: str) -> None:
    with pytest.raises(settings.SettingsError) as caught:
        settings.load({"SPARK_AUTH_SECRET": value})
    (problem,) = caught.value.problems
    assert problem.startswith("SPARK_AUTH_SECRET must be empty or 16 to 512 of A-Z a-z 0-9"), problem
    assert value.strip() not in problem and value.strip()[:8] not in problem


def test_the_secret_is_passed_on_but_never_shown() -> None:
    secret = "s3cr3t-" + "0" * 16
    loaded = settings.load({"SPARK_AUTH_SECRET": secret})
    assert secret not in repr(loaded)
    assert loaded.env_for_children()["SPARK_AUTH_SECRET"] == secret
