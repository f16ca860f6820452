"""`article6 serve` builds the app on the configured database and hands it to uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import inspect
from typer.testing import CliRunner

from article6.cli import serve
from article6.cli.main import app as cli
from article6.store.database import make_engine


def test_serve_runs_uvicorn_with_the_app_on_the_configured_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'served.db'}"  # a new database: serve migrates it
    monkeypatch.setenv("ARTICLE6_DATABASE_URL", url)
    monkeypatch.setenv("ARTICLE6_KEY_DIR", str(tmp_path / "keys"))
    served: dict[str, Any] = {}

    def fake_run(app: FastAPI, **options: Any) -> None:
        served["app"] = app
        served.update(options)

    monkeypatch.setattr(serve.uvicorn, "run", fake_run)
    result = CliRunner().invoke(cli, ["serve", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert served["host"] == "127.0.0.1" and served["port"] == 8123
    assert "http://127.0.0.1:8123" in result.output
    app: FastAPI = served["app"]
    assert str(app.state.engine.url) == url
    assert app.state.key_dir == tmp_path / "keys"
    assert TestClient(app).get("/openapi.json").status_code == 200
    with make_engine(url).connect() as connection:
        assert inspect(connection).has_table("journal")
