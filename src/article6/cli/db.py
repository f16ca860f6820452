"""`article6 db`: schema migrations."""

from __future__ import annotations

import typer

from article6.cli.common import DatabaseOption, console, engine_for

# Alembic is imported inside the command: the command line starts without loading it.

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command()
def upgrade(database_url: str | None = DatabaseOption, revision: str = "heads") -> None:
    """Create or migrate the schema to the latest revision."""
    from article6.store.migrate import upgrade as upgrade_schema

    engine = engine_for(database_url)
    upgrade_schema(engine, revision)
    console.print(f"Schema at [bold]{revision}[/bold] on {engine.url.render_as_string()}")
