"""Fixtures of the ingestion tests: a private topic, lake and checkpoint per test."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from ventes import settings as settings_module
from ventes.kafka_admin import ensure_topic

MakeLake = Callable[..., settings_module.Settings]


@pytest.fixture
def make_lake(kafka, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> MakeLake:
    """Settings of the session's broker with this test's own topic, Bronze table and checkpoint.

    Other test folders share the session's broker, topic and lake; these tests count rows, so
    each gets its own. Extra keyword arguments are more environment variables.
    """

    def make(**extra: str) -> settings_module.Settings:
        monkeypatch.setenv("VENTES_HOME", str(tmp_path / "home"))
        monkeypatch.setenv("DELTA_ROOT", str(tmp_path / "delta"))
        monkeypatch.setenv("KAFKA_TOPIC", f"ingest_{uuid.uuid4().hex[:12]}")
        for name, value in extra.items():
            monkeypatch.setenv(name, value)
        settings = settings_module.load()
        ensure_topic(settings)
        return settings

    return make


@pytest.fixture
def lake(make_lake: MakeLake, spark) -> settings_module.Settings:
    """A fresh topic, an empty lake and no checkpoint; the session's Spark is up."""
    return make_lake()
