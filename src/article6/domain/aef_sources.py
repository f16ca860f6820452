"""What the annual report and the balance read from the journal.

The journal is replayed with `LedgerState`, event by event, and each registry
event is turned into the Article 6 actions it stands for, one per homogeneous
block: an issuance of authorized units is an `Authorization`; an issuance or
use that the authorization names as the OIMP first transfer is also a
`First transfer`; a first transfer, transfer, acquisition, use or
cancellation is one row per block it moved. Each action is reported by the
Party whose registry tracked it.

The same replay yields the flows of the emissions balance: first transfers by
the first transferring Party (NDC first transfers, and OIMP first transfers at
the event the authorization names) and uses towards the NDC per calendar
year. Nothing here comes from configuration, only from recorded events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from article6.domain.accounting import FirstTransferFlow, UseFlow
from article6.domain.blocks import CreateBlock, MoveBlock, op_from_dict
from article6.domain.errors import InvariantViolation
from article6.domain.journal import Event
from article6.domain.ledger import LedgerState
from article6.domain.model import (
    AccountKind,
    AuthorizationVersion,
    Block,
    BlockState,
    FirstTransferDefinition,
)

HOLDING_ACCOUNT_KINDS = frozenset(
    {AccountKind.HOLDING, AccountKind.PENDING, AccountKind.ADAPTATION_FUND}
)
CANCELLATION_TYPES = {
    "voluntary": ("Voluntary Cancellation", "NA"),
    "omge": ("Cancellation", "Voluntary cancellation to deliver OMGE"),
    "other": ("Cancellation", "Other cancellations"),
}


class OutOfDateOrder(ValueError):
    """Actions were recorded out of date order, so a year-end state cannot be rebuilt."""


@dataclass(frozen=True)
class Action:
    """One Article 6 action on one block, as the tracking registry's Party reports it."""

    seq: int
    party: str
    registry_id: str
    action_date: date
    action_type: str
    subtype: str
    block: Block
    authorization: AuthorizationVersion | None
    transferring_party: str | None = None
    acquiring_party: str | None = None
    purpose: str | None = None
    using_party: str | None = None
    entity: str | None = None
    use_year: int | None = None


@dataclass
class JournalView:
    """The replayed ledger with every action and balance flow it produced."""

    state: LedgerState
    actions: list[Action] = field(default_factory=list)
    first_transfers: dict[str, list[FirstTransferFlow]] = field(
        default_factory=lambda: defaultdict(list)
    )
    uses: dict[str, list[UseFlow]] = field(default_factory=lambda: defaultdict(list))

    def actions_of(self, party: str, up_to_year: int | None = None) -> list[Action]:
        return [
            a
            for a in self.actions
            if a.party == party and (up_to_year is None or a.action_date.year <= up_to_year)
        ]


def event_date(event: Event) -> date | None:
    """The action date an event carries, if it is a dated registry action."""
    payload = event.payload
    raw = payload.get("action_date")
    request = payload.get("request")
    if raw is None and isinstance(request, dict):
        raw = request.get("action_date")
    return None if raw is None else date.fromisoformat(str(raw))


def read_journal(events: Iterable[Event]) -> JournalView:
    """Replay every event and collect the actions and flows it stands for."""
    view = JournalView(state=LedgerState())
    for event in events:
        view.state.apply(event)
        _collect(view, event)
    return view


def holdings_as_of(events: Iterable[Event], as_of: date, party: str) -> list[tuple[str, Block]]:
    """Authorized blocks held in `party`'s registries at the end of `as_of`, with registry IDs.

    Events dated after `as_of` are left out of the replay; if a later-dated
    action was recorded before an earlier-dated one that depends on it, the
    state at `as_of` never existed in the journal and OutOfDateOrder is raised.
    """
    state = LedgerState()
    skipped: list[int] = []
    for event in events:
        when = event_date(event)
        if when is not None and when > as_of:
            skipped.append(event.seq)
            continue
        try:
            state.apply(event)
        except InvariantViolation as exc:
            raise OutOfDateOrder(
                f"event {event.seq} dated {when} depends on later-dated events {skipped}: {exc}"
            ) from exc
    held: list[tuple[str, Block]] = []
    for block in state.blocks.values():
        account = state.accounts[block.account_id]
        if (
            block.state is BlockState.HELD
            and block.authorization_id is not None
            and account.kind in HOLDING_ACCOUNT_KINDS
            and account.registry_id[:3] == party
        ):
            held.append((account.registry_id, block))
    return sorted(held, key=lambda rb: (rb[1].approach_id, rb[1].vintage, rb[1].first))


def version_on(
    versions: list[AuthorizationVersion], on: date, number: int | None = None
) -> AuthorizationVersion | None:
    """The named version, else the last one in force on `on`, else the first."""
    if not versions:
        return None
    if number is not None and 1 <= number <= len(versions):
        return versions[number - 1]
    in_force = [v for v in versions if v.effective_from <= on]
    return in_force[-1] if in_force else versions[0]


def _collect(view: JournalView, event: Event) -> None:
    payload = event.payload
    when = event_date(event)
    if when is None or event.registry_id is None:
        return
    party = event.registry_id[:3]
    request: dict[str, Any] = payload.get("request") or {}
    if event.command == "UnitsIssued":
        for raw in payload["ops"]:
            op = op_from_dict(raw)
            if isinstance(op, CreateBlock):
                _issued(view, event, party, when, view.state.blocks[op.block.block_id])
        return
    if event.command == "UnitsAcquired":
        for block_id in payload["blocks"]:
            block = view.state.blocks[block_id]
            _add(
                view,
                event,
                party,
                when,
                "Acquisition",
                "NA",
                block,
                transferring_party=str(payload["from_registry"])[:3],
            )
        return
    moved = _moved_blocks(view, payload)
    to_party = str(payload.get("to_registry", event.registry_id))[:3]
    for block, changes in moved:
        if block.authorization_id is None:
            continue  # never authorized: not an ITMO, not reported
        if event.command == "UnitsFirstTransferred":
            _add(
                view,
                event,
                party,
                when,
                "First transfer",
                "First transfer to another Party",
                block,
                acquiring_party=to_party,
            )
            _first_transfer_flow(view, event, when, block)
        elif event.command == "UnitsTransferred" and to_party != party:
            _add(view, event, party, when, "Transfer", "NA", block, acquiring_party=to_party)
        elif event.command == "UnitsUsed":
            _used(view, event, party, when, block, changes, request)
        elif event.command == "UnitsCancelled":
            action_type, subtype = CANCELLATION_TYPES[str(request.get("kind", "voluntary"))]
            _add(view, event, party, when, action_type, subtype, block, using_party=party)


def _moved_blocks(view: JournalView, payload: dict[str, Any]) -> list[tuple[Block, dict[str, Any]]]:
    moved = []
    for raw in payload.get("ops", []):
        op = op_from_dict(raw)
        if isinstance(op, MoveBlock):
            moved.append((view.state.blocks[op.block_id], dict(op.changes)))
    return moved


def _issued(view: JournalView, event: Event, party: str, when: date, block: Block) -> None:
    if block.authorization_id is None:
        return
    _add(view, event, party, when, "Authorization", "Issuance", block)
    if block.first_transferred:
        version = _authorization(view, block, when)
        definition = version.oimp_first_transfer if version else None
        subtype = (definition or FirstTransferDefinition.ISSUANCE).value
        _add(view, event, party, when, "First transfer", subtype, block)
        _first_transfer_flow(view, event, when, block)


def _used(
    view: JournalView,
    event: Event,
    party: str,
    when: date,
    block: Block,
    changes: dict[str, Any],
    request: dict[str, Any],
) -> None:
    entity = request.get("entity")
    if changes.get("first_transferred"):
        _add(
            view,
            event,
            party,
            when,
            "First transfer",
            FirstTransferDefinition.USE_OR_CANCELLATION.value,
            block,
            entity=entity,
        )
        _first_transfer_flow(view, event, when, block)
    purpose = str(request.get("purpose", "NDC"))
    subtype = "Use towards NDC" if purpose == "NDC" else "Use for OIMP"
    use_year = request.get("use_year")
    _add(
        view,
        event,
        party,
        when,
        "Use",
        subtype,
        block,
        purpose=purpose,
        using_party=party,
        entity=entity,
        use_year=None if use_year is None else int(use_year),
    )
    if purpose == "NDC" and use_year is not None:
        view.uses[party].append(UseFlow(int(use_year), when.year, block.quantity_t, event.seq))


def _first_transfer_flow(view: JournalView, event: Event, when: date, block: Block) -> None:
    purpose = "NDC" if block.purpose is None else block.purpose.value
    view.first_transfers[block.first_transferring_party].append(
        FirstTransferFlow(block.vintage, when.year, block.quantity_t, purpose, event.seq)
    )


def _authorization(view: JournalView, block: Block, when: date) -> AuthorizationVersion | None:
    if block.authorization_id is None:
        return None
    versions = view.state.authorizations.get(block.authorization_id, [])
    return version_on(versions, when, block.authorization_version)


def _add(
    view: JournalView,
    event: Event,
    party: str,
    when: date,
    action_type: str,
    subtype: str,
    block: Block,
    **extra: Any,
) -> None:
    view.actions.append(
        Action(
            seq=event.seq,
            party=party,
            registry_id=str(event.registry_id),
            action_date=when,
            action_type=action_type,
            subtype=subtype,
            block=block,
            authorization=_authorization(view, block, when),
            **extra,
        )
    )
