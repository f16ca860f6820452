"""What every command shares: the database from settings, JSON or Rich output,
and refused actions turned into a clear message and a non-zero exit."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from article6.domain.errors import ActionRefused, InvariantViolation
from article6.domain.permissions import Actor
from article6.settings import Settings, load_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

# The database and service modules are imported inside the functions that use them:
# the command line starts without loading SQLAlchemy and the data libraries.

# Reports are wide; outside a terminal, do not squeeze them into 80 columns.
console = Console() if sys.stdout.isatty() else Console(width=180)
errors = Console(stderr=True)

DatabaseOption = typer.Option(None, "--database-url", help="Overrides ARTICLE6_DATABASE_URL.")
JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON.")
UserOption = typer.Option(
    ...,
    "--user",
    envvar="ARTICLE6_USER",
    help="The user acting (their roles decide what is allowed).",
)


def settings_for(database_url: str | None) -> Settings:
    settings = load_settings()
    if database_url:
        return Settings(database_url=database_url, key_dir=settings.key_dir, home=settings.home)
    return settings


def engine_for(database_url: str | None) -> Engine:
    from article6.store.database import make_engine

    return make_engine(settings_for(database_url).database_url)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


@contextmanager
def refusals_as_exit(as_json: bool) -> Iterator[None]:
    """Refused actions exit with code 2 and name the rule; broken invariants with 3."""
    try:
        yield
    except ActionRefused as refused:
        if as_json:
            print_json({"ok": False, "code": refused.code.value, "message": refused.message})
        else:
            errors.print(f"[red]Refused[/red] ({refused.code.value}): {refused.message}")
        raise typer.Exit(2) from refused
    except InvariantViolation as broken:
        errors.print(f"[red]Ledger invariant broken[/red]: {broken}")
        raise typer.Exit(3) from broken


def run(as_json: bool, action: Callable[[], Any], show: Callable[[Any], None]) -> None:
    with refusals_as_exit(as_json):
        result = action()
    if as_json:
        print_json(result.to_dict() if hasattr(result, "to_dict") else result)
    else:
        show(result)


def acting(database_url: str | None, user_id: str) -> Actor:
    """The actor of a known user; the command line on the server is trusted like a shell."""
    from article6.services.identity import load_actor

    with refusals_as_exit(False):
        return load_actor(engine_for(database_url), user_id)


def act(
    as_json: bool,
    database_url: str | None,
    user_id: str,
    call: Callable[[Engine, Actor], Any],
    show: Callable[[Any], None],
) -> None:
    """Run a command as a user: one engine, the user's actor, refusals as exit codes."""
    from article6.services.identity import load_actor

    engine = engine_for(database_url)
    with refusals_as_exit(as_json):
        actor = load_actor(engine, user_id)
    run(as_json, lambda: call(engine, actor), show)
