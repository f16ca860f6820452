"""`article6 demo`: the Korea–Cambodia reference case on a fresh database."""

from __future__ import annotations

from pathlib import Path

import typer
from sqlalchemy.engine import make_url

from article6.cli.common import DatabaseOption, console, engine_for, settings_for
from article6.cli.registry import _show_report, holdings
from article6.services import reference_case
from article6.services.verify import verify
from article6.store.database import make_engine
from article6.store.migrate import upgrade


def demo(database_url: str | None = DatabaseOption) -> None:
    """Load the reference case into a fresh database, then show holdings and verify."""
    settings = settings_for(database_url)
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        for suffix in ("", "-wal", "-shm"):
            Path(url.database + suffix).unlink(missing_ok=True)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    console.rule("Korea–Cambodia e-motorcycles (CA0001)")
    reference_case.load_setup(engine, settings.key_dir)
    reference_case.load_reference_flows(engine)
    holdings(registry=None, database_url=settings.database_url, as_json=False)
    report = verify(engine_for(settings.database_url))
    _show_report(report)
    if not report.ok:
        raise typer.Exit(1)
