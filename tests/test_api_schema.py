"""Schemathesis against ``/api/v1/openapi.json``: generated requests for every documented
operation, with a worker's, a foreman's and a team member's token, on PostgreSQL.

No answer may be a 5xx, and every answer must match the document (status, content type, body).
Bounded: a fixed number of examples per operation, derandomized, no shrinking database.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask_migrate import upgrade
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup

from handlers import create_web_app
from tests.conftest import dispose
from tests.test_foreman_api import foreman_token, member_token, members_of
from wagedispute.platform.database import db

EXAMPLES_PER_OPERATION = 12
TIME_BUDGET_SECONDS = 240
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Signing out ends the tokens the rest of the run uses; it has its own tests.
EXCLUDED = {("POST", "/api/v1/session/sign-out")}


@pytest.fixture
def schema_app(create_postgres_database: Any, redis_url: str) -> Iterator[Flask]:
    """A web app on a fresh PostgreSQL database, limits out of the way of generated traffic."""
    app = create_web_app(
        {
            "TESTING": True,
            "DATABASE_URL": create_postgres_database(),
            "REDIS_URL": redis_url,
            "SECRET_KEY": "schemathesis-secret-not-for-production",
            "WECHAT_SANDBOX": True,
            "SMS_SANDBOX": True,
            "RATE_LIMIT_PER_MINUTE": 1_000_000,
            "EVIDENCE_UPLOAD_LIMIT": "1000000 per minute",
        }
    )
    with app.app_context():
        upgrade()
    yield app
    app.extensions["wagedispute.redis"].flushdb()
    dispose(app)


def _tokens(app: Flask) -> dict[str, str]:
    from wagedispute.dev.demo import seed_demo
    from wagedispute.models import DisposalTeam, Foreman

    client = app.test_client()
    with app.app_context():
        seed_demo()
        foreman = db.session.query(Foreman).order_by(Foreman.id).first()
        team = db.session.query(DisposalTeam).order_by(DisposalTeam.id).first()
        tokens = {
            "foreman": foreman_token(client, foreman),
            "team": member_token(client, members_of(team)[0]),
        }
        db.session.remove()
    worker = client.post("/api/v1/session", json={"code": "sandbox:o-schemathesis"})
    tokens["worker"] = worker.get_json()["token"]
    return tokens


def _token_for(path: str, tokens: dict[str, str]) -> str:
    if path.startswith("/api/v1/team/"):
        return tokens["team"]
    if path.startswith("/api/v1/foreman/"):
        return tokens["foreman"]
    return tokens["worker"]


def _exercise(operation: Any, headers: dict[str, str]) -> None:
    """Run the bounded examples of one operation with the given headers."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


def test_generated_requests_find_no_server_error_and_conform_to_the_document(
    schema_app: Flask,
) -> None:
    tokens = _tokens(schema_app)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", schema_app)
    deadline = time.monotonic() + TIME_BUDGET_SECONDS
    tested = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in EXCLUDED:
            continue
        _exercise(operation, {"Authorization": f"Bearer {_token_for(operation.path, tokens)}"})
        tested += 1
        assert time.monotonic() < deadline, f"over the time budget after {tested} operations"
    assert tested >= 30


def test_the_run_catches_a_server_error(schema_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness itself: an operation that answers 500 fails the run."""
    tokens = _tokens(schema_app)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", schema_app)
    operation = schema["/api/v1/foreman/queue"]["GET"]

    def broken() -> None:
        raise RuntimeError("deliberately broken for the test")

    monkeypatch.setitem(schema_app.view_functions, "foreman.queue", broken)
    with pytest.raises(FailureGroup) as caught:
        _exercise(operation, {"Authorization": f"Bearer {tokens['foreman']}"})
    assert "Server error" in str(caught.value)
