"""`article6 serve` hands uvicorn the application factory on the configured database,
in one process or several."""

from __future__ import annotations

import socket
from functools import partial
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest
import uvicorn.importer
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import inspect
from typer.testing import CliRunner

from article6.api import workers as api_workers
from article6.api.app import create_app
from article6.api.workers import WorkerStartError, serve_factory
from article6.cli.main import app as cli
from article6.store.database import make_engine


def _restore_settings_after(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`serve` hands its settings to the worker processes through the environment:
    set them here first, so that the test puts back what was there before."""
    monkeypatch.setenv("ARTICLE6_DATABASE_URL", f"sqlite:///{tmp_path / 'unused.db'}")
    monkeypatch.setenv("ARTICLE6_KEY_DIR", str(tmp_path / "keys"))


def test_serve_runs_uvicorn_with_the_app_on_the_configured_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'served.db'}"  # a new database: serve migrates it
    # The option wins over the setting, and the worker processes see it.
    monkeypatch.setenv("ARTICLE6_DATABASE_URL", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    monkeypatch.setenv("ARTICLE6_KEY_DIR", str(tmp_path / "keys"))
    served: dict[str, Any] = {}

    def fake_run(app: str, **options: Any) -> None:
        served["app"] = uvicorn.importer.import_from_string(app)()
        served.update(options)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    result = CliRunner().invoke(cli, ["serve", "--port", "8123", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert served["host"] == "127.0.0.1" and served["port"] == 8123
    assert served["factory"] is True and served["workers"] == 1
    assert "http://127.0.0.1:8123" in result.output
    app: FastAPI = served["app"]
    assert str(app.state.engine.url) == url
    assert app.state.key_dir == tmp_path / "keys"
    assert TestClient(app).get("/openapi.json").status_code == 200
    with make_engine(url).connect() as connection:
        assert inspect(connection).has_table("journal")


def test_several_workers_run_in_the_pool_each_building_the_app_from_the_factory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'served.db'}"
    _restore_settings_after(monkeypatch, tmp_path)
    pooled: dict[str, Any] = {}

    def fake_pool(worker: partial[None], host: str, port: int, workers: int) -> None:
        pooled.update(worker=worker, host=host, port=port, workers=workers)

    monkeypatch.setattr(api_workers, "run_pool", fake_pool)
    result = CliRunner().invoke(
        cli, ["serve", "--port", "8123", "--workers", "3", "--database-url", url]
    )
    assert result.exit_code == 0, result.output
    assert (pooled["host"], pooled["port"], pooled["workers"]) == ("127.0.0.1", 8123, 3)
    assert pooled["worker"].func is serve_factory
    app = uvicorn.importer.import_from_string(pooled["worker"].args[0])()
    assert str(app.state.engine.url) == url
    app.state.engine.dispose()


def test_a_worker_failing_to_start_ends_serve_with_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_pool(*args: Any) -> None:
        raise WorkerStartError("worker 1 exited with code 3 while starting")

    monkeypatch.setattr(api_workers, "run_pool", failing_pool)
    _restore_settings_after(monkeypatch, tmp_path)
    result = CliRunner().invoke(
        cli, ["serve", "--workers", "2", "--database-url", f"sqlite:///{tmp_path / 'a.db'}"]
    )
    assert result.exit_code == 1
    assert "worker 1 exited with code 3 while starting" in result.output


def test_the_handler_thread_pool_is_sized_by_its_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARTICLE6_API_THREADS", "3")
    app = create_app(f"sqlite:///{tmp_path / 'a.db'}", tmp_path / "keys")

    async def tokens() -> float:
        return anyio.to_thread.current_default_thread_limiter().total_tokens

    with TestClient(app) as client:  # the lifespan sizes the running loop's pool
        assert client.portal is not None
        assert client.portal.call(tokens) == 3
    app.state.engine.dispose()


@pytest.mark.parametrize("value", ["0", "-2", "many", ""])
def test_a_wrong_thread_count_is_refused_with_its_name(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARTICLE6_API_THREADS", value)
    with pytest.raises(ValueError, match="ARTICLE6_API_THREADS"):
        create_app(f"sqlite:///{tmp_path / 'a.db'}", tmp_path / "keys")


def test_a_port_in_use_ends_serve_with_an_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _restore_settings_after(monkeypatch, tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            cli,
            [
                "serve",
                "--workers",
                "2",
                "--port",
                str(port),
                "--database-url",
                f"sqlite:///{tmp_path / 'a.db'}",
            ],
        )
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
