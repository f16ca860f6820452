"""The `article6` command: one Typer application with a sub-command per area."""

from __future__ import annotations

import typer

from article6.cli import accounting, db, demo, finance, people, project, registry, report, serve
from article6.cli import mrv as mrv_cli

app = typer.Typer(
    help="Article 6.2 cooperative approaches: registry, MRV, accounting, reporting.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main() -> None:
    """Article 6.2 cooperative approaches end to end."""


# Sub-command groups are registered here, one line each, in one place.
app.add_typer(db.app, name="db")
app.add_typer(registry.app, name="registry")
app.add_typer(people.app, name="people")
app.add_typer(project.app, name="project")
app.add_typer(finance.app, name="finance")
app.add_typer(report.app, name="report")
app.add_typer(accounting.app, name="accounting")
app.add_typer(mrv_cli.app, name="mrv")
app.command("demo")(demo.demo)
app.command("serve")(serve.serve)
