"""Schema-driven fuzzing of the REST API from its own OpenAPI document: no answer is a 5xx.

Every operation under /api/v1 gets a few generated requests (a fixed seed, so runs
are repeatable), once anonymously and once with a registry administrator's bearer
token, against a copy of the reference case. Every error answer must be a
problem document.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from api_support import PROBLEM, copy_reference, reference_template
from fastapi import FastAPI
from hypothesis import HealthCheck, given, seed, settings

from article6.api.app import create_app
from article6.services import identity

__all__ = ["reference_template"]

EXAMPLES_PER_OPERATION = 3


@pytest.fixture(scope="module")
def fuzz_app(
    reference_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FastAPI]:
    url, keys = copy_reference(reference_template, tmp_path_factory.mktemp("fuzz"))
    app = create_app(url, keys)
    yield app
    app.state.engine.dispose()


def _fuzz(app: FastAPI, headers: dict[str, str]) -> dict[str, Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    seen: dict[str, Any] = {"operations": 0, "calls": 0, "statuses": set()}
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith("/api/v1/"):
            continue
        seen["operations"] += 1
        strategy = operation.as_strategy()

        @seed(20261127)
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def call(case: Any) -> None:
            response = case.call(headers=headers)
            seen["calls"] += 1
            seen["statuses"].add(response.status_code)
            label = f"{case.method} {case.formatted_path} -> {response.status_code}"
            assert response.status_code < 500, label + f": {response.text[:500]}"
            if response.status_code >= 400:
                content_type = (response.headers.get("content-type") or [""])[0]
                assert content_type.startswith(PROBLEM), label

        call()
    return seen


def test_fuzz_anonymous_gets_no_server_error(fuzz_app: FastAPI) -> None:
    seen = _fuzz(fuzz_app, {})
    assert seen["operations"] >= 40
    assert 401 in seen["statuses"]


def test_fuzz_signed_in_gets_no_server_error(fuzz_app: FastAPI) -> None:
    engine = fuzz_app.state.engine
    token, _ = identity.issue_api_token(
        engine, actor=identity.load_actor(engine, "kor-registry"), label="fuzz"
    )
    seen = _fuzz(fuzz_app, {"Authorization": f"Bearer {token}"})
    assert seen["calls"] >= seen["operations"]
    assert seen["statuses"] & {200, 201, 204}
    assert seen["statuses"] & {403, 404, 409, 422}
