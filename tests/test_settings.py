from pathlib import Path

import pytest

from ventes import settings


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
    with pytest.raises(ValueError, match="DASHBOARD_PORT must be an integer"):
        settings.load()
