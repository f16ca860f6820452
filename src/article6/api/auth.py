"""Who is calling: a signed session cookie for people, bearer API tokens for machines.

The session cookie holds only the user id, signed with the secret from
`ARTICLE6_SECRET_KEY` (or a random secret generated once into the key
directory); every request reloads the user, so a deactivated user loses access
at once. Machines send `Authorization: Bearer a6_…` tokens issued by
`POST /api/v1/session/tokens`. Sign-in attempts are limited per client address
and per user name in a sliding window kept in the database.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field
from sqlalchemy import Connection, Engine, delete, insert, select

from article6.api.deps import EngineDep
from article6.api.schemas import PROBLEMS, ActorOut, actor_out
from article6.domain.errors import ActionRefused, RejectionCode
from article6.domain.permissions import Actor
from article6.services import identity
from article6.store import workflow_tables as w
from article6.store.database import run_transaction

SESSION_COOKIE = "article6_session"
SESSION_MAX_AGE_S = 8 * 3600
SECRET_FILE = "session-secret"
SESSION_USER = "user_id"
MAX_PASSWORD_CHARS = 1024


def session_secret(key_dir: Path) -> str:
    """`ARTICLE6_SECRET_KEY`, or a secret generated once into the key directory."""
    configured = os.environ.get("ARTICLE6_SECRET_KEY")
    if configured:
        if len(configured) < 32:
            raise ValueError("ARTICLE6_SECRET_KEY must have at least 32 characters")
        return configured
    path = key_dir / SECRET_FILE
    if not path.exists():
        _create_secret(path)
    secret = path.read_text(encoding="ascii").strip()
    if len(secret) < 32:
        raise ValueError(f"{path} holds a session secret shorter than 32 characters")
    return secret


def _create_secret(path: Path) -> None:
    """Write a new secret to `path` unless another process has: the secret is
    written to a file of its own first and then linked into place, so a worker
    starting at the same moment reads a whole secret or none, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, draft = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")  # mode 0600
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(secrets.token_urlsafe(48))
        with contextlib.suppress(FileExistsError):  # another process was first: read theirs
            os.link(draft, path)
    finally:
        os.unlink(draft)


class LoginThrottled(Exception):
    """Too many sign-in attempts from one address or for one user name."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many sign-in attempts; try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class LoginRateLimiter:
    """At most `attempts` failed sign-ins per key (address or user name) in any
    `window_s` seconds.

    The failures are kept in the database, so every server process of
    `article6 serve --workers` counts the same ones; rows older than the window
    are deleted whenever a failure is recorded.
    """

    def __init__(
        self,
        engine: Engine,
        attempts: int = 10,
        window_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if attempts < 1 or window_s <= 0:
            raise ValueError("a login rate limit needs attempts >= 1 and a positive window")
        self.engine = engine
        self.attempts = attempts
        self.window_s = window_s
        self.clock = clock

    def check(self, keys: list[str], now: float | None = None) -> None:
        """Raise `LoginThrottled` if any key has used up its attempts in the window."""
        moment = self.clock() if now is None else now
        with self.engine.connect() as connection:
            for key in keys:
                recent = connection.scalars(
                    select(w.login_failures.c.failed_at)
                    .where(
                        w.login_failures.c.key == key,
                        w.login_failures.c.failed_at > moment - self.window_s,
                    )
                    .order_by(w.login_failures.c.failed_at.desc())
                    .limit(self.attempts)
                ).all()
                if len(recent) >= self.attempts:
                    # Allowed again once the oldest of the last `attempts` leaves the window.
                    retry = int(recent[-1] + self.window_s - moment) + 1
                    raise LoginThrottled(max(retry, 1))

    def record_failure(self, keys: list[str], now: float | None = None) -> None:
        moment = self.clock() if now is None else now
        table = w.login_failures

        def record(connection: Connection) -> None:
            connection.execute(delete(table).where(table.c.failed_at <= moment - self.window_s))
            connection.execute(insert(table), [{"key": k, "failed_at": moment} for k in keys])

        run_transaction(self.engine, record)

    def record_success(self, keys: list[str]) -> None:
        table = w.login_failures
        run_transaction(
            self.engine,
            lambda connection: connection.execute(delete(table).where(table.c.key.in_(keys))),
        )


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def _limiter(request: Request) -> LoginRateLimiter:
    limiter = request.app.state.login_limiter
    assert isinstance(limiter, LoginRateLimiter)
    return limiter


def sign_in(request: Request, engine: Engine, user_id: str, password: str) -> Actor:
    """Check the password (rate-limited) and start a session for the user.

    Raises `LoginThrottled` when the address or user name has failed too often,
    `ActionRefused` (authentication_failed) on a wrong user or password."""
    limiter = _limiter(request)
    keys = [f"address:{client_address(request)}", f"user:{user_id.lower()}"]
    limiter.check(keys)
    try:
        actor = identity.authenticate(engine, user_id, password)
    except ActionRefused:
        limiter.record_failure(keys)
        raise
    limiter.record_success([f"user:{user_id.lower()}"])
    request.session.clear()
    request.session[SESSION_USER] = actor.user_id
    return actor


def sign_out(request: Request) -> None:
    request.session.clear()


def _bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("the Authorization header must be 'Bearer <token>'")
    return token.strip()


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": 'Bearer realm="article6"'})


def resolve_actor(request: Request, engine: Engine) -> Actor | None:
    """The caller from a bearer token or the session cookie; None if neither is sent.

    A bad token is an error (401), a stale session (user gone or deactivated)
    is simply cleared."""
    token = _bearer_token(request)
    if token is not None:
        try:
            return identity.actor_from_token(engine, token)
        except ActionRefused as refused:
            raise _unauthorized(refused.message) from refused
    if "session" not in request.scope:
        return None
    user_id = request.session.get(SESSION_USER)
    if not isinstance(user_id, str):
        return None
    try:
        return identity.load_actor(engine, user_id)
    except ActionRefused:
        request.session.clear()
        return None


def optional_actor(request: Request, engine: EngineDep) -> Actor | None:
    """Dependency: the signed-in actor, or None for anonymous callers."""
    return resolve_actor(request, engine)


def current_actor(request: Request, engine: EngineDep) -> Actor:
    """Dependency: the signed-in actor; 401 problem+json if nobody is signed in."""
    actor = resolve_actor(request, engine)
    if actor is None:
        raise _unauthorized("sign in (POST /api/v1/session) or send a bearer API token")
    return actor


CurrentActor = Annotated[Actor, Depends(current_actor)]
OptionalActor = Annotated[Actor | None, Depends(optional_actor)]


class LoginIn(BaseModel):
    user_id: str = Field(min_length=1, max_length=64, examples=["khm-registry"])
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_CHARS)


class TokenIn(BaseModel):
    label: str = Field(min_length=1, max_length=100, examples=["telematics upload"])


class TokenOut(BaseModel):
    token: str = Field(description="The secret, shown once; send as 'Authorization: Bearer …'")
    label: str
    seq: int


router = APIRouter(prefix="/api/v1/session", tags=["session"], responses=PROBLEMS)


@router.post(
    "",
    response_model=ActorOut,
    summary="Sign in and start a session",
    responses={429: PROBLEMS[401] | {"description": "Too many attempts; see Retry-After"}},
)
def login(body: LoginIn, request: Request, engine: EngineDep) -> ActorOut:
    try:
        actor = sign_in(request, engine, body.user_id, body.password)
    except LoginThrottled as throttled:
        raise HTTPException(
            429, str(throttled), headers={"Retry-After": str(throttled.retry_after_s)}
        ) from throttled
    except ActionRefused as refused:
        if refused.code is RejectionCode.AUTHENTICATION_FAILED:
            raise _unauthorized(refused.message) from refused
        raise
    return actor_out(actor)


@router.get("", response_model=ActorOut, summary="The signed-in user")
def whoami(actor: CurrentActor) -> ActorOut:
    return actor_out(actor)


@router.delete("", status_code=204, summary="Sign out")
def logout(request: Request) -> None:
    sign_out(request)


@router.post("/tokens", response_model=TokenOut, status_code=201, summary="Issue an API token")
def create_token(body: TokenIn, actor: CurrentActor, engine: EngineDep) -> TokenOut:
    token, receipt = identity.issue_api_token(engine, actor=actor, label=body.label)
    return TokenOut(token=token, label=body.label, seq=receipt.seq)
