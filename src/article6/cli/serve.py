"""`article6 serve`: the REST API and web application on the configured database."""

from __future__ import annotations

from pathlib import Path

import typer
import uvicorn

from article6.cli.common import DatabaseOption, console, settings_for
from article6.store.migrate import upgrade

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def serve_app(
    database_url: str | None = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    key_dir: Path | None = None,
) -> None:
    """Bring the schema up to date, then serve the application with uvicorn until
    interrupted (blocks)."""
    from article6.api.app import create_app

    settings = settings_for(database_url)
    app = create_app(settings.database_url, key_dir if key_dir is not None else settings.key_dir)
    upgrade(app.state.engine)
    console.print(
        f"Serving article6 on http://{host}:{port} (API documentation at /docs); Ctrl+C stops"
    )
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)


def serve(
    host: str = typer.Option(DEFAULT_HOST, "--host", help="Address to listen on."),
    port: int = typer.Option(DEFAULT_PORT, "--port", min=1, max=65535),
    database_url: str | None = DatabaseOption,
) -> None:
    """Serve the REST API (and the web application) on the configured database."""
    serve_app(database_url, host, port)
