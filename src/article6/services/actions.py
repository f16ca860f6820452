"""Use cases that move units: issue, first transfer, transfer, use, cancel.

Each loads the blocks it may touch, lets the domain check the authorization
version in force and plan the block operations, appends the events and
applies the operations to the projections, all in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Engine

from article6.domain import codec, identifiers, rules
from article6.domain.blocks import (
    CreateBlock,
    Op,
    op_to_dict,
    plan_range,
    plan_take,
)
from article6.domain.errors import ActionRefused, RejectionCode
from article6.domain.model import (
    Account,
    AccountKind,
    AuthorizationVersion,
    Block,
    BlockState,
    FirstTransferDefinition,
    Issuance,
    Metric,
    MitigationType,
    Purpose,
)
from article6.domain.permissions import Actor, Command, Target, authorize
from article6.services.commands import Prepared, Receipt, run_prepared
from article6.store.ledger_store import LedgerTransaction

MAX_QUANTITY_T = 10**12
HOLDING_KINDS = {AccountKind.HOLDING, AccountKind.ADAPTATION_FUND}
CANCELLATION_KINDS = {
    "voluntary": AccountKind.VOLUNTARY_CANCELLATION,
    "omge": AccountKind.OMGE_CANCELLATION,
    "other": AccountKind.OTHER_CANCELLATION,
}


@dataclass(frozen=True)
class Selection:
    """Which held units an action takes: a quantity of one approach and vintage,
    optionally an exact serial range."""

    approach_id: str
    vintage: int
    quantity_t: int
    first_serial: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "approach_id": self.approach_id,
            "vintage": self.vintage,
            "quantity_t": self.quantity_t,
            "first_serial": self.first_serial,
        }


def prepare_issue_units(
    *,
    actor: Actor,
    approach_id: str,
    registry_id: str,
    vintage: int,
    quantity_t: int,
    action_date: date,
    authorization_id: str | None = None,
    to_account: str | None = None,
    underlying_registry: str | None = None,
    underlying_first: int | None = None,
) -> Prepared:
    """Issue verified mitigation outcomes of one vintage into the host registry.

    Units land in the pending account unless another is named. When the
    authorization defines the OIMP first transfer as authorization or issuance,
    they are first transferred (for OIMP) at this moment.
    """
    _check_quantity(quantity_t)
    target = to_account or f"{registry_id}-PENDING"
    request = {
        "approach_id": approach_id,
        "registry_id": registry_id,
        "vintage": vintage,
        "quantity_t": quantity_t,
        "action_date": action_date.isoformat(),
        "authorization_id": authorization_id,
        "to_account": target,
        "underlying_registry": underlying_registry,
        "underlying_first": underlying_first,
    }
    if (underlying_registry is None) != (underlying_first is None):
        raise ActionRefused(
            RejectionCode.UNDERLYING_RANGE_MISMATCH,
            "underlying units need both their registry and their first serial",
        )

    def handle(tx: LedgerTransaction) -> dict[str, Any]:
        registry_party = identifiers.registry_party(registry_id)
        authorize(actor, Command.ISSUE_UNITS, Target(party=registry_party))
        approach = tx.approach(identifiers.approach_id(approach_id))
        if approach is None:
            raise ActionRefused(
                RejectionCode.UNKNOWN_APPROACH, f"approach {approach_id} does not exist"
            )
        registry = tx.registry(identifiers.registry_id(registry_id))
        if registry is None:
            raise ActionRefused(
                RejectionCode.UNKNOWN_REGISTRY, f"registry {registry_id} does not exist"
            )
        if registry.party != approach.host_party:
            raise ActionRefused(
                RejectionCode.ACCOUNT_REGISTRY_MISMATCH,
                f"units of {approach_id} are issued in the host Party's registry, "
                f"not {registry_id}",
            )
        account = _account(tx, target)
        _require_registry(account, registry_id)
        _require_kind(account, {AccountKind.PENDING, AccountKind.HOLDING}, "receive an issuance")
        authorization = None
        if authorization_id is not None:
            authorization = _in_force(tx, authorization_id, action_date)
        rules.check_issuance(authorization, approach_id, vintage)
        first_transferred = authorization is not None and authorization.oimp_first_transfer in {
            FirstTransferDefinition.AUTHORIZATION,
            FirstTransferDefinition.ISSUANCE,
        }
        if first_transferred and authorization is not None:
            rules.check_first_transfer(
                authorization,
                _probe(approach_id, vintage),
                Purpose.OIMP,
                None,
                None,
                tx.usage(authorization.authorization_id),
                quantity_t,
            )
        first, last = tx.reserve_serials(
            approach_id, registry_id, registry.party, vintage, quantity_t
        )
        issuance = Issuance(
            issuance_id=tx.next_issuance_id(),
            approach_id=approach_id,
            registry_id=registry_id,
            vintage=vintage,
            quantity_t=quantity_t,
            first_serial=first,
            last_serial=last,
            authorization_id=authorization_id,
            underlying_registry=underlying_registry,
            underlying_first=underlying_first,
        )
        block = Block(
            block_id=tx.next_block_id(),
            issuance_id=issuance.issuance_id,
            parent_id=None,
            first=first,
            last=last,
            account_id=target,
            state=BlockState.HELD,
            approach_id=approach_id,
            originating_registry=registry_id,
            first_transferring_party=registry.party,
            vintage=vintage,
            metric=authorization.metric if authorization else Metric.GHG,
            mitigation_type=approach.mitigation_type,
            authorization_id=authorization_id,
            authorization_version=authorization.version
            if first_transferred and authorization
            else None,
            first_transferred=first_transferred,
            purpose=Purpose.OIMP if first_transferred else None,
            underlying_registry=underlying_registry,
            underlying_first=underlying_first,
        )
        ops: list[Op] = [CreateBlock(block)]
        event = tx.append(
            "UnitsIssued",
            registry_id,
            {
                "request": request,
                "issuance": codec.issuance_to_dict(issuance),
                "ops": [op_to_dict(op) for op in ops],
                "quantity_t": quantity_t,
            },
        )
        tx.insert_issuance(issuance, event.seq)
        tx.apply_ops(ops, {}, event.seq)
        if first_transferred and authorization_id is not None:
            tx.add_usage(authorization_id, Purpose.OIMP, quantity_t)
        return {
            "issuance_id": issuance.issuance_id,
            "first_serial": first,
            "last_serial": last,
            "quantity_t": quantity_t,
            "first_transferred": first_transferred,
        }

    return Prepared(actor, "IssueUnits", request, handle)


def prepare_first_transfer(
    *,
    actor: Actor,
    from_account: str,
    to_account: str,
    selection: Selection,
    authorization_id: str,
    action_date: date,
    purpose: Purpose = Purpose.NDC,
    entity: str | None = None,
) -> Prepared:
    """Make authorized units ITMOs: the first international transfer (NDC) or, for
    OIMP, the first transfer the authorization defines."""
    request = _request(
        from_account,
        to_account,
        selection,
        action_date,
        authorization_id=authorization_id,
        purpose=purpose.value,
        entity=entity,
    )

    def handle(tx: LedgerTransaction) -> dict[str, Any]:
        source, target = _accounts(tx, from_account, to_account)
        authorize(
            actor,
            Command.FIRST_TRANSFER,
            Target(party=identifiers.registry_party(source.registry_id)),
        )
        _require_kind(source, {AccountKind.PENDING, AccountKind.HOLDING}, "first transfer units")
        _require_kind(target, {AccountKind.HOLDING}, "receive a first transfer")
        authorization = _in_force(tx, authorization_id, action_date)
        if purpose is not Purpose.NDC:
            raise ActionRefused(
                RejectionCode.OIMP_FIRST_TRANSFER_DEFINITION,
                "units for other international mitigation purposes are first transferred at the "
                f"event {authorization_id} names ({authorization.oimp_first_transfer}), by "
                "issuance or by use or cancellation",
            )
        host = identifiers.registry_party(source.registry_id)
        acquirer = identifiers.registry_party(target.registry_id)
        if host != authorization.authorizing_party:
            raise ActionRefused(
                RejectionCode.ACCOUNT_REGISTRY_MISMATCH,
                f"first transfers under {authorization_id} leave the registry of "
                f"{authorization.authorizing_party}, not {source.registry_id}",
            )
        if acquirer == host:
            raise ActionRefused(
                RejectionCode.ACCOUNT_REGISTRY_MISMATCH,
                "a first transfer for NDC use is an international transfer to another Party",
            )
        candidates = _candidates(
            tx, source, selection, first_transferred=False, authorization_id=authorization_id
        )
        _refuse_if_none_authorized(tx, source, selection, candidates)
        rules.check_first_transfer(
            authorization,
            candidates[0],
            purpose,
            acquirer,
            entity,
            tx.usage(authorization_id),
            selection.quantity_t,
        )
        changes = {
            "first_transferred": True,
            "authorization_version": authorization.version,
            "purpose": purpose.value,
        }
        details = _move(
            tx,
            "UnitsFirstTransferred",
            source,
            target,
            selection,
            candidates,
            changes,
            request,
        )
        tx.add_usage(authorization_id, purpose, selection.quantity_t)
        return details

    return Prepared(actor, "FirstTransfer", request, handle)


def prepare_transfer(
    *,
    actor: Actor,
    from_account: str,
    to_account: str,
    selection: Selection,
    action_date: date,
) -> Prepared:
    """Move units between accounts, within a registry or to another Party's registry."""
    request = _request(from_account, to_account, selection, action_date)

    def handle(tx: LedgerTransaction) -> dict[str, Any]:
        source, target = _accounts(tx, from_account, to_account)
        authorize(
            actor, Command.TRANSFER, Target(party=identifiers.registry_party(source.registry_id))
        )
        if source.account_id == target.account_id:
            raise ActionRefused(
                RejectionCode.SAME_ACCOUNT, "source and destination are the same account"
            )
        _require_kind(source, HOLDING_KINDS | {AccountKind.PENDING}, "transfer units")
        _require_kind(target, HOLDING_KINDS, "receive a transfer; use or cancel units instead")
        if source.registry_id == target.registry_id:
            candidates = _candidates(tx, source, selection)
        else:
            candidates = _candidates(tx, source, selection, first_transferred=True)
            if not candidates and _holds_any(tx, source, selection):
                raise ActionRefused(
                    RejectionCode.NOT_FIRST_TRANSFERRED,
                    "units that were never first transferred leave the host registry only by a "
                    "first transfer",
                )
            _check_acquirer(
                tx, candidates, identifiers.registry_party(target.registry_id), action_date
            )
        return _move(tx, "UnitsTransferred", source, target, selection, candidates, {}, request)

    return Prepared(actor, "Transfer", request, handle)


def prepare_use_units(
    *,
    actor: Actor,
    from_account: str,
    selection: Selection,
    action_date: date,
    purpose: Purpose = Purpose.NDC,
    use_year: int | None = None,
    entity: str | None = None,
    to_account: str | None = None,
) -> Prepared:
    """Use ITMOs towards the NDC (with the calendar year of use) or for OIMP. Terminal."""
    if purpose is Purpose.NDC and use_year is None:
        raise ActionRefused(
            RejectionCode.USE_OUTSIDE_AUTHORIZED_TIMEFRAME,
            "use towards an NDC needs the calendar year of use",
        )
    if purpose not in {Purpose.NDC, Purpose.OIMP}:
        raise ActionRefused(
            RejectionCode.PURPOSE_NOT_AUTHORIZED, f"units cannot be used for {purpose}"
        )
    registry_of_source = from_account.split("-", 1)[0]
    suffix = "NDC-USE" if purpose is Purpose.NDC else "OIMP-USE"
    target_id = to_account or f"{registry_of_source}-{suffix}"
    request = _request(
        from_account,
        target_id,
        selection,
        action_date,
        purpose=purpose.value,
        use_year=use_year,
        entity=entity,
    )
    kind = AccountKind.NDC_USE if purpose is Purpose.NDC else AccountKind.OIMP_USE

    def handle(tx: LedgerTransaction) -> dict[str, Any]:
        source, target = _accounts(tx, from_account, target_id)
        authorize(
            actor, Command.USE_UNITS, Target(party=identifiers.registry_party(source.registry_id))
        )
        _require_kind(source, {AccountKind.HOLDING}, "use units")
        _require_kind(target, {kind}, f"receive units used for {purpose.value}")
        _require_registry(target, source.registry_id)
        using_party = identifiers.registry_party(source.registry_id)
        first_authorized = tx.held_blocks(
            source.account_id, selection.approach_id, selection.vintage, authorized=True, limit=1
        )
        _refuse_if_none_authorized(tx, source, selection, first_authorized)
        authorization_id = str(first_authorized[0].authorization_id)
        authorization = _in_force(tx, authorization_id, action_date)
        # Units authorized for OIMP with "use or cancellation" become ITMOs by this use.
        first_transfer_now = (
            purpose is Purpose.OIMP
            and authorization.oimp_first_transfer is FirstTransferDefinition.USE_OR_CANCELLATION
            and bool(
                tx.held_blocks(
                    source.account_id,
                    selection.approach_id,
                    selection.vintage,
                    authorization_id=authorization_id,
                    first_transferred=False,
                    limit=1,
                )
            )
        )
        candidates = _candidates(
            tx,
            source,
            selection,
            authorization_id=authorization_id,
            first_transferred=not first_transfer_now,
        )
        if not candidates:
            raise ActionRefused(
                RejectionCode.NOT_FIRST_TRANSFERRED,
                "only ITMOs that were first transferred can be used",
            )
        changes: dict[str, Any] = {
            "state": BlockState.USED.value,
            "purpose": purpose.value,
            "use_year": use_year,
        }
        if first_transfer_now:
            rules.check_first_transfer(
                authorization,
                candidates[0],
                purpose,
                None,
                entity,
                tx.usage(authorization_id),
                selection.quantity_t,
            )
            changes |= {"first_transferred": True, "authorization_version": authorization.version}
        rules.check_use(authorization, candidates[0], purpose, use_year, using_party, entity)
        details = _move(tx, "UnitsUsed", source, target, selection, candidates, changes, request)
        if first_transfer_now:
            tx.add_usage(authorization_id, purpose, selection.quantity_t)
        return details

    return Prepared(actor, "UseUnits", request, handle)


def prepare_cancel_units(
    *,
    actor: Actor,
    from_account: str,
    selection: Selection,
    action_date: date,
    kind: str = "voluntary",
    reason: str = "",
) -> Prepared:
    """Cancel units: voluntary, for overall mitigation (OMGE), or other. Terminal."""
    if kind not in CANCELLATION_KINDS:
        raise ActionRefused(
            RejectionCode.ACCOUNT_KIND_NOT_ALLOWED,
            f"cancellation kind {kind!r} is not one of {sorted(CANCELLATION_KINDS)}",
        )
    account_kind = CANCELLATION_KINDS[kind]
    suffix = {"voluntary": "VOL-CANCEL", "omge": "OMGE-CANCEL", "other": "OTHER-CANCEL"}[kind]
    target_id = f"{from_account.split('-', 1)[0]}-{suffix}"
    request = _request(from_account, target_id, selection, action_date, kind=kind, reason=reason)

    def handle(tx: LedgerTransaction) -> dict[str, Any]:
        source, target = _accounts(tx, from_account, target_id)
        authorize(
            actor,
            Command.CANCEL_UNITS,
            Target(party=identifiers.registry_party(source.registry_id)),
        )
        _require_kind(source, HOLDING_KINDS | {AccountKind.PENDING}, "cancel units")
        _require_kind(target, {account_kind}, f"receive {kind} cancellations")
        candidates = _candidates(tx, source, selection)
        changes = {"state": BlockState.CANCELLED.value}
        return _move(tx, "UnitsCancelled", source, target, selection, candidates, changes, request)

    return Prepared(actor, "CancelUnits", request, handle)


# --- entry points: each runs its prepared command as one transaction --------------


def issue_units(engine: Engine, *, idempotency_key: str | None = None, **arguments: Any) -> Receipt:
    """Run `prepare_issue_units` in its own transaction."""
    return run_prepared(engine, prepare_issue_units(**arguments), idempotency_key)


def first_transfer(
    engine: Engine, *, idempotency_key: str | None = None, **arguments: Any
) -> Receipt:
    """Run `prepare_first_transfer` in its own transaction."""
    return run_prepared(engine, prepare_first_transfer(**arguments), idempotency_key)


def transfer(engine: Engine, *, idempotency_key: str | None = None, **arguments: Any) -> Receipt:
    """Run `prepare_transfer` in its own transaction."""
    return run_prepared(engine, prepare_transfer(**arguments), idempotency_key)


def use_units(engine: Engine, *, idempotency_key: str | None = None, **arguments: Any) -> Receipt:
    """Run `prepare_use_units` in its own transaction."""
    return run_prepared(engine, prepare_use_units(**arguments), idempotency_key)


def cancel_units(
    engine: Engine, *, idempotency_key: str | None = None, **arguments: Any
) -> Receipt:
    """Run `prepare_cancel_units` in its own transaction."""
    return run_prepared(engine, prepare_cancel_units(**arguments), idempotency_key)


# --- shared steps ---------------------------------------------------------------


def _check_quantity(quantity_t: int) -> None:
    if isinstance(quantity_t, bool) or not isinstance(quantity_t, int):
        raise ActionRefused(
            RejectionCode.INVALID_QUANTITY, f"quantity {quantity_t!r} must be whole tonnes"
        )
    if not 0 < quantity_t <= MAX_QUANTITY_T:
        raise ActionRefused(
            RejectionCode.INVALID_QUANTITY,
            f"quantity {quantity_t} must be between 1 and {MAX_QUANTITY_T} t",
        )


def _request(
    from_account: str, to_account: str, selection: Selection, action_date: date, **extra: Any
) -> dict[str, Any]:
    _check_quantity(selection.quantity_t)
    return {
        "from_account": from_account,
        "to_account": to_account,
        "selection": selection.to_dict(),
        "action_date": action_date.isoformat(),
        **extra,
    }


def _account(tx: LedgerTransaction, account_id: str) -> Account:
    account = tx.account(account_id)
    if account is None:
        raise ActionRefused(RejectionCode.UNKNOWN_ACCOUNT, f"account {account_id} does not exist")
    return account


def _accounts(tx: LedgerTransaction, source_id: str, target_id: str) -> tuple[Account, Account]:
    """Both accounts of a movement, read together."""
    found = tx.accounts(source_id, target_id)
    for account_id in (source_id, target_id):
        if account_id not in found:
            raise ActionRefused(
                RejectionCode.UNKNOWN_ACCOUNT, f"account {account_id} does not exist"
            )
    return found[source_id], found[target_id]


def _require_kind(account: Account, kinds: set[AccountKind], doing: str) -> None:
    if account.kind not in kinds:
        raise ActionRefused(
            RejectionCode.ACCOUNT_KIND_NOT_ALLOWED,
            f"account {account.account_id} ({account.kind.value}) cannot {doing}",
        )


def _require_registry(account: Account, registry_id: str) -> None:
    if account.registry_id != registry_id:
        raise ActionRefused(
            RejectionCode.ACCOUNT_REGISTRY_MISMATCH,
            f"account {account.account_id} is not in registry {registry_id}",
        )


def _in_force(tx: LedgerTransaction, authorization_id: str, on: date) -> AuthorizationVersion:
    versions = tx.authorization_versions(authorization_id)
    if not versions:
        raise ActionRefused(
            RejectionCode.UNKNOWN_AUTHORIZATION, f"authorization {authorization_id} does not exist"
        )
    return rules.version_in_force(versions, on)


def _candidates(
    tx: LedgerTransaction, source: Account, selection: Selection, **filters: Any
) -> list[Block]:
    """The held blocks an action takes from: enough of them in selection order, or
    the one block holding an exact serial range."""
    if selection.first_serial is None:
        return tx.held_blocks(
            source.account_id,
            selection.approach_id,
            selection.vintage,
            enough_t=selection.quantity_t,
            **filters,
        )
    first = selection.first_serial
    last = first + selection.quantity_t - 1
    containing = tx.held_blocks(
        source.account_id,
        selection.approach_id,
        selection.vintage,
        containing=(first, last),
        **filters,
    )
    if not containing:
        raise ActionRefused(
            RejectionCode.SERIAL_RANGE_INVALID
            if _holds_any(tx, source, selection)
            else RejectionCode.UNITS_RETIRED,
            f"serials {first}-{last} of {selection.approach_id} vintage {selection.vintage} "
            f"are not held, as required, in one block of {source.account_id}",
        )
    return containing


def _holds_any(tx: LedgerTransaction, source: Account, selection: Selection) -> bool:
    return bool(
        tx.held_blocks(source.account_id, selection.approach_id, selection.vintage, limit=1)
    )


def _check_acquirer(
    tx: LedgerTransaction, candidates: list[Block], acquirer: str, on: date
) -> None:
    """A later transfer of ITMOs may only go to a Party the authorization names (or back home)."""
    for authorization_id in sorted({b.authorization_id for b in candidates if b.authorization_id}):
        authorization = _in_force(tx, authorization_id, on)
        allowed = {authorization.authorizing_party, *authorization.acquiring_parties}
        if acquirer not in allowed:
            raise ActionRefused(
                RejectionCode.ACQUIRING_PARTY_NOT_AUTHORIZED,
                f"Party {acquirer} is not an authorized acquiring Party of {authorization_id}",
            )


def _refuse_if_none_authorized(
    tx: LedgerTransaction, source: Account, selection: Selection, candidates: list[Block]
) -> None:
    if candidates:
        return
    if _holds_any(tx, source, selection):
        raise ActionRefused(
            RejectionCode.NOT_AUTHORIZED_UNITS,
            f"{source.account_id} holds no eligible authorized units of {selection.approach_id} "
            f"vintage {selection.vintage} (already first transferred, or never authorized)",
        )
    raise ActionRefused(
        RejectionCode.INSUFFICIENT_UNITS,
        f"{source.account_id} holds no units of {selection.approach_id} "
        f"vintage {selection.vintage}",
    )


def _move(
    tx: LedgerTransaction,
    command: str,
    source: Account,
    target: Account,
    selection: Selection,
    candidates: list[Block],
    changes: dict[str, Any],
    request: dict[str, Any],
) -> dict[str, Any]:
    if selection.first_serial is not None and candidates:
        held = candidates[0]
        last = selection.first_serial + selection.quantity_t - 1
        ops = plan_range(
            held, selection.first_serial, last, target.account_id, changes, tx.next_block_id
        )
    else:
        ops = plan_take(
            candidates, selection.quantity_t, target.account_id, changes, tx.next_block_id
        )
    payload = {
        "request": request,
        "ops": [op_to_dict(op) for op in ops],
        "quantity_t": selection.quantity_t,
        "to_registry": target.registry_id,
    }
    event = tx.append(command, source.registry_id, payload)
    known = {b.block_id: b for b in candidates}
    moved = tx.apply_ops(ops, known, event.seq)
    if target.registry_id != source.registry_id:
        tx.append(
            "UnitsAcquired",
            target.registry_id,
            {
                "transfer_seq": event.seq,
                "from_registry": source.registry_id,
                "quantity_t": selection.quantity_t,
                "blocks": [b.block_id for b in moved],
                "action_date": request["action_date"],
            },
        )
    return {
        "quantity_t": selection.quantity_t,
        "to_account": target.account_id,
        "blocks": [{"block_id": b.block_id, "first": b.first, "last": b.last} for b in moved],
    }


def _probe(approach_id: str, vintage: int) -> Block:
    """A stand-in block carrying only what the first-transfer rules read at issuance."""
    return Block(
        0,
        0,
        None,
        1,
        1,
        "",
        BlockState.HELD,
        approach_id,
        "",
        "",
        vintage,
        Metric.GHG,
        MitigationType.EMISSION_REDUCTIONS,
        None,
        None,
        False,
    )
