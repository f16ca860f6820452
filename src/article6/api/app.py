"""The application factory: settings, engine, session cookie, problem documents, routers.

`create_app` builds one FastAPI application on one database; the web
application's pages are mounted on the same app so that both share the
engine, the session cookie and the authentication dependencies.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
from fastapi import FastAPI
from starlette.middleware.sessions import SessionMiddleware

from article6.api import auth
from article6.api.problems import install_problem_handlers
from article6.api.routes import (
    accounting,
    finance,
    monitoring_data,
    people,
    projects,
    reference,
    registry,
)
from article6.settings import load_settings
from article6.store.database import WalCheckpointer, make_engine
from article6.web.router import web_router

API_TITLE = "article6 — Article 6.2 cooperative approaches"
API_VERSION = "1"
THREADS_VARIABLE = "ARTICLE6_API_THREADS"
DEFAULT_THREADS = 2


def worker_threads() -> int:
    """Threads per process that run blocking request handlers (``ARTICLE6_API_THREADS``,
    default 2).

    Handlers hold the interpreter lock while they build queries and pages, so
    more threads add no throughput: they take turns on one core, each answer
    waits for the others, and the one thread that holds the database write
    lock waits longer for its turn. Under load 2 kept the tail latency of the
    load benchmark far below what 4 did; more cores want more worker processes
    (`article6 serve --workers`), not more threads.
    """
    value = os.environ.get(THREADS_VARIABLE, str(DEFAULT_THREADS))
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{THREADS_VARIABLE}={value!r} must be a whole number >= 1")
    return int(value)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    anyio.to_thread.current_default_thread_limiter().total_tokens = app.state.threads
    checkpointer = WalCheckpointer(app.state.engine)
    checkpointer.start()
    try:
        yield
    finally:
        checkpointer.stop()


def create_app(database_url: str | None = None, key_dir: Path | None = None) -> FastAPI:
    """The REST API (and, mounted on it, the web application) on one database.

    Defaults come from the settings (`ARTICLE6_DATABASE_URL`, `ARTICLE6_KEY_DIR`).
    The schema is expected to be current (`article6 db upgrade`)."""
    settings = load_settings()
    url = database_url or settings.database_url
    keys = key_dir if key_dir is not None else settings.key_dir
    app = FastAPI(
        title=API_TITLE,
        version=API_VERSION,
        description=(
            "Registry, project workflow, monitoring, accounting, reporting and finance "
            "of Article 6.2 cooperative approaches. Errors are application/problem+json; "
            "mutations honour an Idempotency-Key header."
        ),
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url="/redoc",
        lifespan=_lifespan,
    )
    app.state.threads = worker_threads()
    app.state.engine = make_engine(url, background_checkpoints=True)
    app.state.key_dir = keys
    app.state.upload_dir = Path(os.environ.get("ARTICLE6_UPLOAD_DIR") or keys.parent / "uploads")
    app.state.login_limiter = auth.LoginRateLimiter(app.state.engine)
    app.add_middleware(
        SessionMiddleware,
        secret_key=auth.session_secret(keys),
        session_cookie=auth.SESSION_COOKIE,
        max_age=auth.SESSION_MAX_AGE_S,
        same_site="lax",
        https_only=os.environ.get("ARTICLE6_SECURE_COOKIES") == "1",
    )
    install_problem_handlers(app)
    app.include_router(auth.router)
    for router in (
        registry.router,
        reference.router,
        people.router,
        projects.router,
        monitoring_data.router,
        accounting.router,
        finance.router,
    ):
        app.include_router(router)
    app.include_router(web_router)
    return app
