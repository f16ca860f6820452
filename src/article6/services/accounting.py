"""Use cases of corresponding adjustments: record an NDC, import an inventory,
compute, finalise and correct the emissions balance.

Each change is one command, one transaction and one journal event
(`NdcRecorded`, `InventoryImported`, `BalanceFinalised`, `BalanceCorrected`).
The balance itself is never stored as a running figure: it is computed from
the registry events (first transfers and uses) and the imported inventory,
until the Party finalises it for an NDC period. From then on the finalised
figures are what the balance reports, and only an explicit correction, with
its reason on the journal, changes them.
"""

from __future__ import annotations

import csv
import hashlib
import json
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import Connection, Engine, insert, select, update

from article6.domain.accounting import (
    Attribution,
    Balance,
    Method,
    Ndc,
    NdcError,
    compute_balance,
    linear_trajectory,
    ndc_from_dict,
    ndc_to_dict,
    validate_ndc,
)
from article6.domain.aef_sources import JournalView, read_journal
from article6.domain.errors import ActionRefused, RejectionCode
from article6.domain.inventory import InventoryRecord, validate_inventory
from article6.domain.journal import Event, canonical
from article6.domain.permissions import Actor, Command, Role, Target, authorize
from article6.services.commands import Receipt, execute
from article6.store import accounting_tables as a
from article6.store import tables as t
from article6.store.ledger_store import LedgerTransaction

# Korea's acquiring authority in the reference case: it records Korea's NDC and balance.
KOR_AUTHORITY = Actor("kor-motie", "KOR-MOTIE", "KOR", frozenset({Role.ACQUIRING_AUTHORITY}))
MAX_FILE_BYTES = 5_000_000


# --- reading the journal ----------------------------------------------------------


def load_events(connection: Connection) -> Iterator[Event]:
    """Every journal event in order, decoded from the bytes that were hashed."""
    rows = connection.execute(
        (
            select(
                t.journal.c.seq, t.journal.c.body, t.journal.c.prev_hash, t.journal.c.hash
            ).order_by(t.journal.c.seq)
        ).execution_options(yield_per=5000)
    )
    for row in rows:
        body = json.loads(row.body)
        yield Event(
            seq=row.seq,
            command=body["command"],
            registry_id=body["registry_id"],
            actor=body["actor"],
            recorded_at=body["recorded_at"],
            payload=body["payload"],
            prev_hash=row.prev_hash,
            hash=row.hash,
        )


def journal_view(connection: Connection) -> JournalView:
    return read_journal(load_events(connection))


# --- NDC ------------------------------------------------------------------------------


def load_ndc_file(path: Path) -> Ndc:
    """An NDC from a TOML file; `trajectory = "linear"` draws the straight line to the target."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise NdcError(f"{path.name}: {exc}") from exc
    try:
        period = (int(data["period_start"]), int(data["period_end"]))
        trajectory = data.get("trajectory", {})
        if trajectory == "linear":
            trajectory = linear_trajectory(
                int(data["base_year"]),
                int(data["base_value_t"]),
                int(data["target_year"]),
                int(data["target_value_t"]),
                range(period[0], period[1] + 1),
            )
        ndc = ndc_from_dict({**data, "trajectory_t": trajectory})
    except (KeyError, TypeError, ValueError) as exc:
        raise NdcError(f"{path.name}: missing or invalid field {exc}") from exc
    return validate_ndc(ndc)


def record_ndc(
    engine: Engine, *, actor: Actor, ndc: Ndc, idempotency_key: str | None = None
) -> Receipt:
    """Record a new version of a Party's NDC; versions are 1, 2, ... and never edited."""
    data = ndc_to_dict(ndc)

    def handle(tx: LedgerTransaction) -> dict[str, Any]:
        authorize(actor, Command.RECORD_NDC, Target(party=ndc.party))
        try:
            validate_ndc(ndc)
        except NdcError as exc:
            raise ActionRefused(RejectionCode.INVALID_TRANSITION, str(exc)) from exc
        versions = ndc_versions(tx.connection, ndc.party)
        if ndc.version != len(versions) + 1:
            raise ActionRefused(
                RejectionCode.VERSION_NOT_INCREASING,
                f"NDC of {ndc.party} is at version {len(versions)}; the next is "
                f"{len(versions) + 1}, not {ndc.version}",
            )
        event = tx.append("NdcRecorded", None, {"ndc": data})
        tx.connection.execute(
            insert(a.ndc_versions).values(
                party=ndc.party, version=ndc.version, data=canonical(data).decode(), seq=event.seq
            )
        )
        return {"party": ndc.party, "version": ndc.version}

    return execute(engine, actor, "RecordNdc", data, idempotency_key, handle)


def ndc_versions(connection: Connection, party: str) -> list[Ndc]:
    rows = connection.execute(
        select(a.ndc_versions.c.data)
        .where(a.ndc_versions.c.party == party)
        .order_by(a.ndc_versions.c.version)
    ).all()
    return [ndc_from_dict(json.loads(r.data)) for r in rows]


def ndc_for(connection: Connection, party: str, year: int) -> Ndc | None:
    """The latest NDC version whose implementation period covers `year`."""
    covering = [
        n for n in ndc_versions(connection, party) if n.period_start <= year <= n.period_end
    ]
    return covering[-1] if covering else None


# --- inventory -------------------------------------------------------------------------


def read_inventory_file(path: Path) -> list[InventoryRecord]:
    """Rows of a CSV or XLSX inventory, validated; problems name file, row and column."""
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ActionRefused(
            RejectionCode.INVALID_QUANTITY, f"{path.name} is larger than {MAX_FILE_BYTES} bytes"
        )
    if path.suffix.lower() == ".xlsx":
        workbook = load_workbook(path, read_only=True, data_only=True)
        sheet = workbook.worksheets[0]
        lines = [list(r) for r in sheet.iter_rows(values_only=True)]
        workbook.close()
    else:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            lines = [list(r) for r in csv.reader(handle)]
    header = [str(c or "").strip() for c in (lines[0] if lines else [])]
    rows = (
        (number, dict(zip(header, line, strict=False)))
        for number, line in enumerate(lines[1:], start=2)
        if any(cell not in (None, "") for cell in line)
    )
    return validate_inventory(path.name, header, rows)


def import_inventory(
    engine: Engine,
    *,
    actor: Actor,
    party: str,
    records: list[InventoryRecord],
    digest: str = "",
    idempotency_key: str | None = None,
) -> Receipt:
    """Record inventory emissions per year; a later import of a year replaces its figure."""
    rows = [
        {
            "year": r.year,
            "emissions_t": r.emissions_t,
            "source": r.source,
            "file": r.file,
            "row": r.row,
        }
        for r in records
    ]
    request = {"party": party, "rows": rows, "sha256": digest}

    def handle(tx: LedgerTransaction) -> dict[str, Any]:
        authorize(actor, Command.IMPORT_INVENTORY, Target(party=party))
        event = tx.append("InventoryImported", None, request)
        for row in rows:
            key = (a.inventory_emissions.c.party == party) & (
                a.inventory_emissions.c.year == row["year"]
            )
            values = {**row, "source": str(row["source"])[:200], "file": str(row["file"])[:200]}
            done = tx.connection.execute(
                update(a.inventory_emissions).where(key).values(**values, seq=event.seq)
            )
            if done.rowcount == 0:
                tx.connection.execute(
                    insert(a.inventory_emissions).values(party=party, **values, seq=event.seq)
                )
        return {"party": party, "years": [r["year"] for r in rows]}

    return execute(engine, actor, "ImportInventory", request, idempotency_key, handle)


def import_inventory_file(
    engine: Engine, *, actor: Actor, party: str, path: Path, idempotency_key: str | None = None
) -> Receipt:
    records = read_inventory_file(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return import_inventory(
        engine,
        actor=actor,
        party=party,
        records=records,
        digest=digest,
        idempotency_key=idempotency_key,
    )


def inventory(connection: Connection, party: str) -> dict[int, int]:
    rows = connection.execute(
        select(a.inventory_emissions).where(a.inventory_emissions.c.party == party)
    ).all()
    return {r.year: r.emissions_t for r in rows}


# --- the balance -------------------------------------------------------------------------


@dataclass(frozen=True)
class BalanceStatement:
    """The balance as reported: computed while provisional, stored once finalised.

    `figures` is what the Party reports; `computed` is the balance recomputed
    from the journal now. They differ only if something changed after the
    period was finalised, which then needs a correction.
    """

    party: str
    year: int
    status: str  # provisional | final | corrected
    figures: dict[str, Any]
    computed: Balance

    @property
    def differs(self) -> bool:
        return self.status != "provisional" and self.figures != self.computed.to_dict()

    def to_dict(self) -> dict[str, Any]:
        return {
            "party": self.party,
            "year": self.year,
            "status": self.status,
            "figures": self.figures,
            "recomputed_differs": self.differs,
        }


def compute_party_balance(
    connection: Connection,
    party: str,
    year: int,
    attribution: Attribution | None = None,
    view: JournalView | None = None,
    known_by_year: int | None = None,
) -> Balance:
    """The balance of the NDC period covering `year`, as known at the end of `year`."""
    ndc = ndc_for(connection, party, year)
    if ndc is None:
        raise ActionRefused(
            RejectionCode.UNKNOWN_PARTY, f"no NDC of {party} covers {year}: record one first"
        )
    view = view or journal_view(connection)
    return compute_balance(
        ndc,
        inventory(connection, party),
        view.first_transfers.get(party, []),
        view.uses.get(party, []),
        year,
        attribution,
        known_by_year,
    )


def balance_statement(
    engine: Engine, party: str, year: int, attribution: Attribution | None = None
) -> BalanceStatement:
    with engine.connect() as connection:
        computed = compute_party_balance(connection, party, year, attribution)
        ndc = ndc_for(connection, party, year)
        stored = None if ndc is None else _final_figures(connection, party, ndc.period_start)
    if stored is None or ndc is None or year < ndc.period_end:
        return BalanceStatement(party, year, "provisional", computed.to_dict(), computed)
    status, figures = stored
    return BalanceStatement(party, year, status, figures, computed)


def _final_figures(
    connection: Connection, party: str, period_start: int
) -> tuple[str, dict[str, Any]] | None:
    correction = connection.execute(
        select(a.balance_corrections.c.data)
        .where(
            a.balance_corrections.c.party == party,
            a.balance_corrections.c.period_start == period_start,
        )
        .order_by(a.balance_corrections.c.number.desc())
        .limit(1)
    ).first()
    if correction is not None:
        return "corrected", json.loads(correction.data)
    final = connection.execute(
        select(a.balance_finalisations.c.data).where(
            a.balance_finalisations.c.party == party,
            a.balance_finalisations.c.period_start == period_start,
        )
    ).first()
    return None if final is None else ("final", json.loads(final.data))


def finalise_balance(
    engine: Engine,
    *,
    actor: Actor,
    party: str,
    period_end: int,
    idempotency_key: str | None = None,
) -> Receipt:
    """Freeze the balance of the NDC period ending in `period_end`; it then needs corrections."""
    request = {"party": party, "period_end": period_end}

    def handle(tx: LedgerTransaction) -> dict[str, Any]:
        authorize(actor, Command.FINALISE_BALANCE, Target(party=party))
        ndc, balance = _complete_balance(tx.connection, party, period_end)
        if _final_figures(tx.connection, party, ndc.period_start) is not None:
            raise ActionRefused(
                RejectionCode.ALREADY_EXISTS,
                f"the balance of {party} for {ndc.period_start}-{ndc.period_end} is already "
                "final; record a correction instead",
            )
        figures = balance.to_dict()
        event = tx.append("BalanceFinalised", None, {**request, "figures": figures})
        tx.connection.execute(
            insert(a.balance_finalisations).values(
                party=party,
                period_start=ndc.period_start,
                period_end=ndc.period_end,
                ndc_version=ndc.version,
                data=canonical(figures).decode(),
                seq=event.seq,
            )
        )
        return {"party": party, "period": [ndc.period_start, ndc.period_end]}

    return execute(engine, actor, "FinaliseBalance", request, idempotency_key, handle)


def correct_balance(
    engine: Engine,
    *,
    actor: Actor,
    party: str,
    period_end: int,
    reason: str,
    idempotency_key: str | None = None,
) -> Receipt:
    """Replace finalised figures by the recomputed ones, with the reason on the journal."""
    request = {"party": party, "period_end": period_end, "reason": reason.strip()}

    def handle(tx: LedgerTransaction) -> dict[str, Any]:
        authorize(actor, Command.CORRECT_BALANCE, Target(party=party))
        if not reason.strip():
            raise ActionRefused(RejectionCode.INVALID_TRANSITION, "a correction needs a reason")
        ndc, balance = _complete_balance(tx.connection, party, period_end)
        stored = _final_figures(tx.connection, party, ndc.period_start)
        if stored is None:
            raise ActionRefused(
                RejectionCode.INVALID_TRANSITION, "only a finalised balance is corrected"
            )
        figures = balance.to_dict()
        if figures == stored[1]:
            raise ActionRefused(
                RejectionCode.INVALID_TRANSITION, "the recomputed balance equals the final one"
            )
        number = 1 + len(
            tx.connection.execute(
                select(a.balance_corrections.c.number).where(
                    a.balance_corrections.c.party == party,
                    a.balance_corrections.c.period_start == ndc.period_start,
                )
            ).all()
        )
        event = tx.append(
            "BalanceCorrected",
            None,
            {**request, "number": number, "previous": stored[1], "figures": figures},
        )
        tx.connection.execute(
            insert(a.balance_corrections).values(
                party=party,
                period_start=ndc.period_start,
                number=number,
                reason=request["reason"],
                data=canonical(figures).decode(),
                seq=event.seq,
            )
        )
        return {"party": party, "correction": number}

    return execute(engine, actor, "CorrectBalance", request, idempotency_key, handle)


def _complete_balance(connection: Connection, party: str, period_end: int) -> tuple[Ndc, Balance]:
    ndc = ndc_for(connection, party, period_end)
    if ndc is None or ndc.period_end != period_end:
        raise ActionRefused(
            RejectionCode.INVALID_TRANSITION, f"no NDC period of {party} ends in {period_end}"
        )
    balance = compute_party_balance(connection, party, period_end)
    missing = [r.year for r in balance.years if r.emissions_t is None]
    needed = (
        missing
        if ndc.method is not Method.AVERAGING
        else ([ndc.target_year] if ndc.target_year in missing else [])
    )
    if needed:
        raise ActionRefused(
            RejectionCode.INVALID_TRANSITION,
            f"the inventory of {party} has no emissions for {needed}: import it first",
        )
    return ndc, balance
