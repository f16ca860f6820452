"""`article6 people`: the first administrator, organisations, users and API tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from article6.cli.common import (
    DatabaseOption,
    JsonOption,
    UserOption,
    act,
    acting,
    console,
    engine_for,
    run,
)
from article6.domain.permissions import Role

if TYPE_CHECKING:
    from article6.services.commands import Receipt

# The identity service is imported inside each command: the command line starts
# without loading the database libraries.

app = typer.Typer(help="Organisations, users, roles and API tokens.", no_args_is_help=True)


def _show(receipt: Receipt) -> None:
    console.print(
        f"[green]{receipt.command}[/green] recorded as event {receipt.seq}: {receipt.details}"
    )


@app.command()
def bootstrap(
    user_id: str = typer.Option("admin", "--id"),
    name: str = typer.Option("System administrator", "--name"),
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True),
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Create the first system administrator (only while there are no users)."""
    from article6.services import identity

    run(
        as_json,
        lambda: identity.bootstrap_administrator(
            engine_for(database_url), user_id=user_id, name=name, password=password
        ),
        _show,
    )


@app.command("add-organisation")
def add_organisation(
    organisation_id: str = typer.Option(..., "--id"),
    name: str = typer.Option(...),
    party: str | None = typer.Option(None, help="ISO alpha-3; omit for international bodies."),
    kind: str = typer.Option(..., help="ministry, project developer, verifier, financier, …"),
    user: str = UserOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Register an organisation."""
    from article6.services import identity

    organisation = identity.Organisation(organisation_id, name, party, kind)
    act(
        as_json,
        database_url,
        user,
        lambda engine, actor: identity.register_organisation(
            engine, actor=actor, organisation=organisation
        ),
        _show,
    )


@app.command("add-user")
def add_user(
    user_id: str = typer.Option(..., "--id"),
    organisation_id: str = typer.Option(..., "--organisation"),
    name: str = typer.Option(...),
    roles: list[Role] = typer.Option(..., "--role", help="Repeat for several roles."),
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True),
    locale: str = typer.Option("en", help="en, ko or km."),
    user: str = UserOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Register a user of an organisation with roles."""
    from article6.services import identity

    act(
        as_json,
        database_url,
        user,
        lambda engine, actor: identity.register_user(
            engine,
            actor=actor,
            user_id=user_id,
            organisation_id=organisation_id,
            name=name,
            password=password,
            roles=frozenset(roles),
            locale=locale,
        ),
        _show,
    )


@app.command("token")
def token(
    label: str = typer.Option(..., help="What the token is for, e.g. telematics upload."),
    user: str = UserOption,
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Issue an API token for the acting user; it is shown once."""
    from article6.services import identity

    secret, receipt = identity.issue_api_token(
        engine_for(database_url), actor=acting(database_url, user), label=label
    )
    run(
        as_json,
        lambda: {"token": secret, "label": label, "seq": receipt.seq},
        lambda r: console.print(f"API token (shown once): [bold]{r['token']}[/bold]"),
    )
