"""Fuzz the API from its own OpenAPI description: no 5xx, no answer outside its schema.

schemathesis draws valid and invalid query strings for every operation and checks each answer
against /api/openapi.json (status codes, content types, response schemas, that valid input is
accepted and invalid input refused), in-process through WSGI.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from dashboard import create_app
from tests.dashboard.silver import SilverLake, sample_sales


@pytest.fixture(scope="module", params=["empty lake", "lake with sales"])
def api_schema(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    root: Path = tmp_path_factory.mktemp("fuzz") / "delta"
    if request.param == "lake with sales":
        SilverLake(root).write(sample_sales())
    app = create_app({"DELTA_ROOT": str(root), "DBT_TARGET_DIR": str(root / "dbt_target")})
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_api_answers_within_its_openapi_description(api_schema, mode: GenerationMode) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    # Every operation but the description itself, which schemathesis leaves out.
    assert len(operations) == len(api_schema.raw_schema["paths"]) - 1
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and not operation.query:
            continue  # nothing to make invalid

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def answers_within_schema(case) -> None:
            case.call_and_validate()

        answers_within_schema()


def test_the_description_covers_every_api_route() -> None:
    app = create_app()
    routes = {rule.rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")}
    described = set(app.test_client().get("/api/openapi.json").get_json()["paths"])
    assert routes == described
