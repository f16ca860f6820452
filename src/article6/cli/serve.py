"""`article6 serve`: the REST API and web application on the configured database."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import typer

from article6.cli.common import DatabaseOption, console, settings_for

# uvicorn, the application and the database modules are imported inside the functions
# that use them: the command line starts without loading them.

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
APP_FACTORY = "article6.api.app:create_app"
LOG_LEVEL = "info"


def serve_app(
    database_url: str | None = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    key_dir: Path | None = None,
    workers: int = 1,
) -> None:
    """Bring the schema up to date, then serve the application with uvicorn until
    interrupted (blocks).

    Handlers hold the interpreter lock, so one process uses about one core;
    `workers` processes share the port and use as many, each on a listening
    socket of its own so that the kernel spreads connections evenly
    (``article6.api.workers``). Each builds the application from the
    environment, which is set here for them.
    """
    import uvicorn

    from article6.api.workers import (
        WorkerStartError,
        reuse_port_supported,
        run_pool,
        serve_factory,
    )
    from article6.store.database import make_engine
    from article6.store.migrate import upgrade

    settings = settings_for(database_url)
    keys = key_dir if key_dir is not None else settings.key_dir
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    console.print(
        f"Serving article6 on http://{host}:{port} with {workers} worker process"
        f"{'es' if workers > 1 else ''} (API documentation at /docs); Ctrl+C stops"
    )
    os.environ["ARTICLE6_DATABASE_URL"] = settings.database_url
    os.environ["ARTICLE6_KEY_DIR"] = str(keys)
    if workers > 1 and reuse_port_supported():
        try:
            run_pool(partial(serve_factory, APP_FACTORY, LOG_LEVEL), host, port, workers)
        except OSError as error:
            raise WorkerStartError(f"cannot listen on {host}:{port}: {error.strerror}") from error
        return
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=LOG_LEVEL,
        access_log=False,
    )


def serve(
    host: str = typer.Option(DEFAULT_HOST, "--host", help="Address to listen on."),
    port: int = typer.Option(DEFAULT_PORT, "--port", min=1, max=65535),
    workers: int = typer.Option(
        1, "--workers", min=1, max=64, help="Server processes (about one core each)."
    ),
    database_url: str | None = DatabaseOption,
) -> None:
    """Serve the REST API (and the web application) on the configured database."""
    from article6.api.workers import WorkerStartError

    try:
        serve_app(database_url, host, port, workers=workers)
    except WorkerStartError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from error
