"""Dependencies every router shares: the engine, the key directory, paging, idempotency."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from sqlalchemy import Engine

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 100
MAX_IDEMPOTENCY_KEY_CHARS = 200


# The trivial dependencies are coroutines: FastAPI runs a plain function
# dependency in a worker thread, and a thread hop costs more than they do.


async def engine(request: Request) -> Engine:
    value = request.app.state.engine
    assert isinstance(value, Engine)
    return value


async def key_dir(request: Request) -> Path:
    value = request.app.state.key_dir
    assert isinstance(value, Path)
    return value


async def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=MAX_IDEMPOTENCY_KEY_CHARS,
            description="A client-chosen key; a retry with the same key returns the first result.",
        ),
    ] = None,
) -> str | None:
    return key


class Page:
    """`limit` (at most MAX_PAGE_SIZE) and `offset` of a list."""

    def __init__(self, limit: int, offset: int) -> None:
        self.limit = limit
        self.offset = offset


async def page(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page:
    return Page(limit, offset)


EngineDep = Annotated[Engine, Depends(engine)]
KeyDirDep = Annotated[Path, Depends(key_dir)]
IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]
PageDep = Annotated[Page, Depends(page)]
