"""Use cases of the annual information (AEF): freeze holdings, build, check and
generate a Party's report for a year.

Holdings are frozen as of 31 December by an explicit command once the year is
over (`HoldingsFrozen`): the snapshot is rebuilt by replaying the journal up
to that date and stored, and every report reads that snapshot, never the
current state. A generated report is recorded (`AefGenerated`) with the
digest of its content: the first is version 1.0, and each later one whose
content differs (a correction) gets the next version, 1.1, 1.2 ...
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from article6.domain import aef
from article6.domain.aef_checks import CheckFailure, CheckInput, run_checks
from article6.domain.aef_sources import JournalView, OutOfDateOrder, holdings_as_of, version_on
from article6.domain.errors import ActionRefused, RejectionCode
from article6.domain.journal import canonical
from article6.domain.permissions import Actor, Command, Target, authorize
from article6.services.accounting import (
    compute_party_balance,
    journal_view,
    load_events,
    ndc_for,
)
from article6.services.commands import Receipt, execute
from article6.store import accounting_tables as a
from article6.store.ledger_store import LedgerTransaction


def year_end(year: int) -> date:
    return date(year, 12, 31)


def freeze_holdings(
    engine: Engine,
    *,
    actor: Actor,
    party: str,
    year: int,
    on: date,
    idempotency_key: str | None = None,
) -> Receipt:
    """Store the Party's holdings as of 31 December of `year`; allowed once the year is over."""
    request = {"party": party, "year": year, "on": on.isoformat()}

    def handle(tx: LedgerTransaction) -> dict[str, Any]:
        authorize(actor, Command.FREEZE_HOLDINGS, Target(party=party))
        if on <= year_end(year):
            raise ActionRefused(
                RejectionCode.INVALID_TRANSITION,
                f"holdings of {year} are frozen as of 31/12/{year}, after that day, not on {on}",
            )
        if frozen_rows(tx.connection, party, year) is not None:
            raise ActionRefused(
                RejectionCode.ALREADY_EXISTS, f"holdings of {party} for {year} are already frozen"
            )
        try:
            held = holdings_as_of(load_events(tx.connection), year_end(year), party)
        except OutOfDateOrder as exc:
            raise ActionRefused(RejectionCode.INVALID_TRANSITION, str(exc)) from exc
        view = journal_view(tx.connection)
        rows = []
        for registry_id, block in held:
            versions = view.state.authorizations.get(block.authorization_id or "", [])
            version = version_on(versions, year_end(year), block.authorization_version)
            rows.append(aef.holding_row(registry_id, block, version))
        total = sum(int(r["Quantity (t CO2 eq)"]) for r in rows if r["Metric"] == "GHG")
        event = tx.append(
            "HoldingsFrozen", None, {**request, "as_of": year_end(year).isoformat(), "rows": rows}
        )
        tx.connection.execute(
            insert(a.frozen_holdings).values(
                party=party,
                year=year,
                as_of=year_end(year),
                data=canonical(rows).decode(),
                seq=event.seq,
            )
        )
        return {"party": party, "year": year, "blocks": len(rows), "quantity_t": total}

    return execute(engine, actor, "FreezeHoldings", request, idempotency_key, handle)


def frozen_rows(connection: Connection, party: str, year: int) -> list[aef.Row] | None:
    row = connection.execute(
        select(a.frozen_holdings.c.data).where(
            a.frozen_holdings.c.party == party, a.frozen_holdings.c.year == year
        )
    ).first()
    return None if row is None else list(json.loads(row.data))


def all_frozen(connection: Connection, party: str) -> dict[int, list[aef.Row]]:
    rows = connection.execute(
        select(a.frozen_holdings.c.year, a.frozen_holdings.c.data).where(
            a.frozen_holdings.c.party == party
        )
    ).all()
    return {r.year: list(json.loads(r.data)) for r in rows}


# --- building the tables --------------------------------------------------------------


def party_authorization_rows(view: JournalView, party: str, year: int) -> list[aef.Row]:
    """Every version of the Party's authorizations dated up to the end of `year`."""
    rows = []
    for versions in view.state.authorizations.values():
        for version in versions:
            if version.authorizing_party != party or version.authorization_date.year > year:
                continue
            approach = view.state.approaches.get(version.approach_id)
            sectors = approach.sectors if approach else ()
            activities = approach.activity_types if approach else ()
            rows.append(aef.authorization_row(version, sectors, activities, view.state.entities))
    return sorted(
        rows, key=lambda r: (str(r["Authorization ID"]), int(r["Version of the authorization"]))
    )


def entity_rows(view: JournalView, party: str, year: int) -> list[aef.Row]:
    rows = []
    for versions in view.state.authorizations.values():
        dated = [v for v in versions if v.authorization_date.year <= year]
        if not dated or dated[0].authorizing_party != party:
            continue
        current = dated[-1]
        first = dated[0]
        for entity_id in current.entities:
            entity = view.state.entities.get(entity_id)
            if entity is not None:
                rows.append(aef.entity_row(first, entity, dated[1:]))
    return rows


def action_rows(view: JournalView, party: str, year: int) -> list[aef.Row]:
    return [
        aef.action_row(action, view.state.entities)
        for action in view.actions
        if action.party == party and action.action_date.year == year
    ]


def build_report(
    connection: Connection,
    party: str,
    year: int,
    submitted_on: date,
    version: str | None = None,
    view: JournalView | None = None,
) -> aef.AefReport:
    """The AEF of `party` for `year` from the journal, the NDC and the frozen holdings."""
    view = view or journal_view(connection)
    ndc = ndc_for(connection, party, year)
    period = None if ndc is None else (ndc.period_start, ndc.period_end)
    holdings = frozen_rows(connection, party, year)
    notes = [] if holdings is not None else [f"holdings of {year} are not frozen yet"]
    report = aef.AefReport(
        party=party,
        reported_year=year,
        version=version or "0.0",
        table1=[aef.submission_row(party, version or "0.0", year, submitted_on, period)],
        table2=party_authorization_rows(view, party, year),
        table3=action_rows(view, party, year),
        table4=holdings or [],
        table5=entity_rows(view, party, year),
        notes=notes,
    )
    if version is not None:
        return report
    chosen = _version_for(connection, party, year, content_digest(report))
    table1 = [aef.submission_row(party, chosen, year, submitted_on, period)]
    return replace(report, version=chosen, table1=table1)


def content_digest(report: aef.AefReport) -> str:
    return hashlib.sha256(canonical(report.content())).hexdigest()


def _version_for(connection: Connection, party: str, year: int, digest: str) -> str:
    """The last recorded version if its content is unchanged, else the next one."""
    rows = connection.execute(
        select(a.aef_versions.c.version, a.aef_versions.c.digest).where(
            a.aef_versions.c.party == party, a.aef_versions.c.year == year
        )
    ).all()
    versions = [str(r.version) for r in rows]
    if not rows:
        return aef.next_version([])
    latest = max(rows, key=lambda r: tuple(int(p) for p in r.version.split(".")))
    return str(latest.version) if latest.digest == digest else aef.next_version(versions)


def generate_aef(
    engine: Engine,
    *,
    actor: Actor,
    party: str,
    year: int,
    submitted_on: date,
    idempotency_key: str | None = None,
) -> tuple[aef.AefReport, Receipt]:
    """Generate and record the report; the same content keeps its version."""
    request = {"party": party, "year": year, "submitted_on": submitted_on.isoformat()}
    built: list[aef.AefReport] = []

    def handle(tx: LedgerTransaction) -> dict[str, Any]:
        authorize(actor, Command.GENERATE_AEF, Target(party=party))
        if frozen_rows(tx.connection, party, year) is None:
            raise ActionRefused(
                RejectionCode.INVALID_TRANSITION,
                f"freeze the holdings of {party} as of 31/12/{year} before generating its AEF",
            )
        report = build_report(tx.connection, party, year, submitted_on)
        digest, version = content_digest(report), report.version
        built.append(report)
        known = tx.connection.execute(
            select(a.aef_versions.c.version).where(
                a.aef_versions.c.party == party,
                a.aef_versions.c.year == year,
                a.aef_versions.c.version == version,
            )
        ).first()
        if known is None:
            event = tx.append(
                "AefGenerated", None, {**request, "version": version, "digest": digest}
            )
            tx.connection.execute(
                insert(a.aef_versions).values(
                    party=party,
                    year=year,
                    version=version,
                    submitted_on=submitted_on,
                    digest=digest,
                    data=canonical(report.to_dict()).decode(),
                    seq=event.seq,
                )
            )
        return {
            "party": party,
            "year": year,
            "version": version,
            "digest": digest,
            "new_version": known is None,
        }

    receipt = execute(engine, actor, "GenerateAef", request, idempotency_key, handle)
    if built:
        return built[0], receipt
    with engine.connect() as connection:  # an idempotent replay: rebuild what was recorded
        return build_report(
            connection, party, year, submitted_on, receipt.details["version"]
        ), receipt


# --- consistency checks ------------------------------------------------------------------


def check_report(engine: Engine, party: str, year: int, submitted_on: date) -> list[CheckFailure]:
    """Every pre-submission check on the Party's report for `year`, as it stands now."""
    with engine.connect() as connection:
        view = journal_view(connection)
        report = build_report(connection, party, year, submitted_on, view=view)
        failures: list[CheckFailure] = []
        if frozen_rows(connection, party, year) is None:
            failures.append(
                CheckFailure("table4", 0, "holdings.frozen", f"holdings of {year} not frozen")
            )
        others = sorted({a.party for a in view.actions} - {party})
        earlier = [
            aef.action_row(act, view.state.entities)
            for act in view.actions
            if act.party == party and act.action_date.year < year
        ]
        counterpart_actions = [row for other in others for row in action_rows(view, other, year)]
        authorizers = {
            v.authorizing_party for vs in view.state.authorizations.values() for v in vs
        } - {party}
        counterpart_auths = [
            row
            for other in sorted(authorizers)
            for row in party_authorization_rows(view, other, year)
        ]
        ft: dict[int, int] = {}
        used: dict[int, int] = {}
        attribution = "vintage"
        ndc = ndc_for(connection, party, year)
        if ndc is None:
            failures.append(
                CheckFailure("table1", 1, "accounting.ndc", f"no NDC of {party} covers {year}")
            )
        else:
            balance = compute_party_balance(connection, party, year, view=view, known_by_year=year)
            ft = {r.year: r.first_transfers_t for r in balance.years}
            used = {r.year: r.uses_t for r in balance.years}
            attribution = balance.attribution.value
        data = CheckInput(
            report=report,
            earlier_actions=earlier,
            counterpart_actions=counterpart_actions,
            counterpart_authorizations=counterpart_auths,
            previous_holdings=frozen_rows(connection, party, year - 1),
            balance_first_transfers=ft,
            balance_uses=used,
            attribution=attribution,
        )
    found = run_checks(data)
    if failures and failures[0].rule == "holdings.frozen":
        # Without a snapshot there is nothing to reconcile; say so once.
        found = [f for f in found if f.rule != "holdings.reconciliation"]
    return failures + found
