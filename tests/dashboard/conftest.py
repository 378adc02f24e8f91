"""Fixtures of the dashboard tests: a lake per test, and apps over it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dashboard import create_app
from tests.dashboard.silver import SilverLake, sample_sales


@pytest.fixture
def lake(tmp_path: Path) -> SilverLake:
    return SilverLake(tmp_path / "delta")


@pytest.fixture
def sales() -> list[dict]:
    return sample_sales()


def make_app(lake: SilverLake, **config: Any) -> Flask:
    return create_app(
        {"DELTA_ROOT": str(lake.root), "DBT_TARGET_DIR": str(lake.root / "dbt_target"), **config}
    )


@pytest.fixture
def app_for(lake: SilverLake) -> Callable[..., Flask]:
    """An app over the test's lake, with any config overridden."""
    return lambda **config: make_app(lake, **config)


@pytest.fixture
def client(lake: SilverLake) -> FlaskClient:
    return make_app(lake).test_client()
