"""`article6 demo`: the Korea–Cambodia reference case on a fresh database.

It goes through the workflow as the people involved would: the working group's
review, Cambodia's LoA, registration, the first monitoring period, its
verification, the allocated issuance and Korea's first use, then shows the
registry and verifies the journal.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from article6.cli.common import DatabaseOption, console, settings_for
from article6.cli.registry import _show_report, holdings
from article6.cli.serve import DEFAULT_HOST, DEFAULT_PORT, serve_app

# The services and the database are imported inside the functions that use them:
# the command line starts without loading SQLAlchemy and the data libraries.


def demo(
    database_url: str | None = DatabaseOption,
    serve: bool = typer.Option(
        True, "--serve/--no-serve", help="Serve the application after loading."
    ),
    port: int = typer.Option(DEFAULT_PORT, "--port"),
) -> None:
    """Load the reference case into a fresh database, show it, then serve the application."""
    from sqlalchemy.engine import make_url

    from article6.services import finance_reference, reference_workflow
    from article6.services.regular_information import write_demo_reports
    from article6.services.verify import verify
    from article6.store.database import make_engine
    from article6.store.migrate import upgrade

    settings = settings_for(database_url)
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        for suffix in ("", "-wal", "-shm"):
            Path(url.database + suffix).unlink(missing_ok=True)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    console.rule("Korea–Cambodia e-motorcycles (CA0001): from review to first use")
    with console.status("Working group review, LoA, monitoring, verification, issuance…"):
        cast = reference_workflow.load_people(engine, settings.key_dir)
        reference_workflow.load_project_to_registration(engine, cast)
        # The programme's agreement exists before the first issuance, which repays it.
        finance_reference.load_reference_agreement(engine, record_deliveries=False)
        reference_workflow.load_first_period(engine, cast)
    holdings(registry=None, database_url=settings.database_url, as_json=False)
    report = verify(engine)
    _show_report(report)
    console.rule("Investment support programme: recovery in credits")
    for line in finance_reference.reference_status_lines(engine):
        console.print(line, highlight=False, markup=False)
    console.rule("Annual information (AEF) and emissions balances")
    written = write_demo_reports(engine, settings.home / "reports", console=console)
    console.print(f"{len(written)} report files written to {settings.home / 'reports'}")
    _show_users()
    if not report.ok:
        raise typer.Exit(1)
    if serve:
        serve_app(settings.database_url, DEFAULT_HOST, port, settings.key_dir)


def _show_users() -> None:
    from article6.services import reference_workflow

    table = Table(title=f"Demo users (password: {reference_workflow.DEMO_PASSWORD})")
    for column in ("User", "Organisation", "Roles"):
        table.add_column(column)
    for user_id, organisation, _name, roles, _locale in reference_workflow.USERS:
        table.add_row(user_id, organisation, ", ".join(sorted(r.value for r in roles)))
    console.print(table)
