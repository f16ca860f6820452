"""The registry state rebuilt from journal events, with its invariants.

`LedgerState.apply` is how `registry verify` replays the journal: it re-applies
every event's block operations to an in-memory state and refuses any operation
that could not have happened (moving a retired block, a second first transfer,
a split outside the block). `check_invariants` then proves conservation and
uniqueness of serials. The same checks guard the database projections, since
those are compared with this state.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from article6.domain import codec
from article6.domain.blocks import CreateBlock, MoveBlock, SplitBlock, move, op_from_dict, split
from article6.domain.errors import InvariantViolation
from article6.domain.events import AUDIT_EVENTS
from article6.domain.journal import Event
from article6.domain.model import (
    RETIREMENT_KINDS,
    Account,
    AccountKind,
    Approach,
    AuthorizationVersion,
    Block,
    BlockState,
    Entity,
    Issuance,
    Party,
    Purpose,
    Registry,
)

BLOCK_COMMANDS = frozenset(
    {"UnitsIssued", "UnitsFirstTransferred", "UnitsTransferred", "UnitsUsed", "UnitsCancelled"}
)
CROSS_REGISTRY_COMMANDS = frozenset({"UnitsFirstTransferred", "UnitsTransferred"})


@dataclass
class LedgerState:
    parties: dict[str, Party] = field(default_factory=dict)
    registries: dict[str, Registry] = field(default_factory=dict)
    entities: dict[str, Entity] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)
    approaches: dict[str, Approach] = field(default_factory=dict)
    authorizations: dict[str, list[AuthorizationVersion]] = field(default_factory=dict)
    issuances: dict[int, Issuance] = field(default_factory=dict)
    blocks: dict[int, Block] = field(default_factory=dict)
    usage_t: dict[tuple[str, Purpose], int] = field(default_factory=lambda: defaultdict(int))
    awaiting_acquisition: dict[int, tuple[str, int]] = field(default_factory=dict)

    def apply(self, event: Event) -> None:
        """Apply one event; raises InvariantViolation naming the event if it cannot apply."""
        try:
            self._apply(event)
        except InvariantViolation as exc:
            raise InvariantViolation(f"event {event.seq} ({event.command}): {exc}") from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise InvariantViolation(
                f"event {event.seq} ({event.command}): malformed payload ({exc!r})"
            ) from exc

    def _apply(self, event: Event) -> None:
        p = event.payload
        match event.command:
            case "PartyRegistered":
                party = codec.party_from_dict(p["party"])
                self._new(self.parties, party.code, party)
            case "RegistryOpened":
                registry = codec.registry_from_dict(p["registry"])
                self._new(self.registries, registry.registry_id, registry)
            case "EntityRegistered":
                entity = codec.entity_from_dict(p["entity"])
                self._new(self.entities, entity.entity_id, entity)
            case "AccountOpened":
                account = codec.account_from_dict(p["account"])
                if account.registry_id not in self.registries:
                    raise InvariantViolation(f"account in unknown registry {account.registry_id}")
                self._new(self.accounts, account.account_id, account)
            case "ApproachRegistered":
                approach = codec.approach_from_dict(p["approach"])
                self._new(self.approaches, approach.approach_id, approach)
            case "AuthorizationRecorded":
                version = codec.authorization_from_dict(p["authorization"])
                versions = self.authorizations.setdefault(version.authorization_id, [])
                if version.version != len(versions) + 1:
                    raise InvariantViolation(
                        f"authorization version {version.version} out of order"
                    )
                versions.append(version)
            case "UnitsAcquired":
                self._acquire(event)
            case command if command in BLOCK_COMMANDS:
                if command == "UnitsIssued":
                    issuance = codec.issuance_from_dict(p["issuance"])
                    self._new(self.issuances, issuance.issuance_id, issuance)
                for raw in p["ops"]:
                    self._apply_op(raw)
                if command in CROSS_REGISTRY_COMMANDS and p.get("to_registry") != event.registry_id:
                    self.awaiting_acquisition[event.seq] = (p["to_registry"], p["quantity_t"])
            case command if command in AUDIT_EVENTS:
                pass  # on the chain for audit; its own module checks its content
            case _:
                raise InvariantViolation(f"unknown command {event.command!r}")

    def _new(self, table: dict[Any, Any], key: Any, value: Any) -> None:
        if key in table:
            raise InvariantViolation(f"{key} recorded twice")
        table[key] = value

    def _acquire(self, event: Event) -> None:
        transfer_seq = event.payload["transfer_seq"]
        expected = self.awaiting_acquisition.pop(transfer_seq, None)
        if expected is None:
            raise InvariantViolation(f"acquisition of unknown transfer event {transfer_seq}")
        if expected != (event.registry_id, event.payload["quantity_t"]):
            raise InvariantViolation(
                f"acquisition {event.registry_id}/{event.payload['quantity_t']} t does not match "
                f"transfer {transfer_seq} ({expected[0]}/{expected[1]} t)"
            )

    def _apply_op(self, raw: dict[str, Any]) -> None:
        op = op_from_dict(raw)
        if isinstance(op, CreateBlock):
            block = op.block
            issuance = self.issuances.get(block.issuance_id)
            if issuance is None or block.account_id not in self.accounts:
                raise InvariantViolation(
                    f"block {block.block_id} created for unknown issuance/account"
                )
            self._new(self.blocks, block.block_id, block)
            if block.first_transferred:
                self._record_first_transfer(block)
        elif isinstance(op, SplitBlock):
            parent = self._block(op.parent_id)
            low, high = split(parent, op.at, op.low_id, op.high_id)
            self._new(self.blocks, low.block_id, low)
            self._new(self.blocks, high.block_id, high)
            self.blocks[parent.block_id] = replace(parent, state=BlockState.SPLIT)
        elif isinstance(op, MoveBlock):
            self._move(op)

    def _move(self, op: MoveBlock) -> None:
        block = self._block(op.block_id)
        if block.account_id != op.from_account:
            raise InvariantViolation(
                f"block {block.block_id} is in {block.account_id}, not {op.from_account}"
            )
        if op.to_account not in self.accounts:
            raise InvariantViolation(
                f"block {block.block_id} moved to unknown account {op.to_account}"
            )
        if block.first_transferred and op.changes.get("first_transferred"):
            raise InvariantViolation(f"block {block.block_id} first transferred twice")
        moved = move(block, op.to_account, op.changes)
        kind = self.accounts[op.to_account].kind
        retiring = kind in RETIREMENT_KINDS
        if retiring != (moved.state is not BlockState.HELD):
            raise InvariantViolation(
                f"block {block.block_id} in a {kind.value} account has state {moved.state.value}"
            )
        if moved.first_transferred and not block.first_transferred:
            self._record_first_transfer(moved)
        self.blocks[block.block_id] = moved

    def _record_first_transfer(self, block: Block) -> None:
        if block.authorization_id is None or block.purpose is None:
            raise InvariantViolation(
                f"block {block.block_id} first transferred without authorization"
            )
        key = (block.authorization_id, block.purpose)
        self.usage_t[key] += block.quantity_t
        versions = self.authorizations.get(block.authorization_id, [])
        if block.authorization_version is None or not 1 <= block.authorization_version <= len(
            versions
        ):
            raise InvariantViolation(
                f"block {block.block_id} names an unknown authorization version"
            )
        version = versions[block.authorization_version - 1]
        if self.usage_t[key] > version.purpose_caps_t.get(block.purpose, 0):
            raise InvariantViolation(
                f"first transfers under {block.authorization_id} for {block.purpose.value} exceed "
                f"the cap of version {version.version}"
            )
        total = sum(q for (a, _), q in self.usage_t.items() if a == block.authorization_id)
        if total > version.quantity_cap_t:
            raise InvariantViolation(
                f"first transfers under {block.authorization_id} exceed its authorized quantity"
            )

    def _block(self, block_id: int) -> Block:
        block = self.blocks.get(block_id)
        if block is None:
            raise InvariantViolation(f"unknown block {block_id}")
        return block

    def balances(self) -> dict[tuple[str, str, int], int]:
        """Units per (account, approach, vintage), counting every non-split block."""
        totals: dict[tuple[str, str, int], int] = defaultdict(int)
        for block in self.blocks.values():
            if block.state is not BlockState.SPLIT:
                totals[(block.account_id, block.approach_id, block.vintage)] += block.quantity_t
        return dict(totals)

    def account_kind(self, account_id: str) -> AccountKind:
        return self.accounts[account_id].kind


def check_invariants(state: LedgerState) -> None:
    """Conservation and uniqueness: per issuance the live blocks tile its serial range.

    Tiling exactly (sorted, contiguous, from first to last serial) proves both
    held + used + cancelled = issued and that no serial is in two live blocks.
    """
    live: dict[int, list[Block]] = defaultdict(list)
    for block in state.blocks.values():
        if block.state is not BlockState.SPLIT:
            live[block.issuance_id].append(block)
    for issuance_id, issuance in state.issuances.items():
        _check_tiling(issuance, sorted(live.pop(issuance_id, []), key=lambda b: b.first))
    if live:
        raise InvariantViolation(f"blocks of unknown issuances {sorted(live)}")
    if state.awaiting_acquisition:
        seq = min(state.awaiting_acquisition)
        raise InvariantViolation(f"transfer event {seq} has no matching acquisition")


def _check_tiling(issuance: Issuance, blocks: Iterable[Block]) -> None:
    expected = issuance.first_serial
    total = 0
    for block in blocks:
        if block.first != expected:
            problem = "overlaps" if block.first < expected else "leaves a gap before"
            raise InvariantViolation(
                f"issuance {issuance.issuance_id}: block {block.block_id} "
                f"[{block.first}, {block.last}] {problem} serial {expected}"
            )
        if block.last < block.first:
            raise InvariantViolation(f"block {block.block_id} has last < first")
        expected = block.last + 1
        total += block.quantity_t
    if total != issuance.quantity_t or expected != issuance.last_serial + 1:
        raise InvariantViolation(
            f"issuance {issuance.issuance_id}: live blocks hold {total} t "
            f"of {issuance.quantity_t} t"
        )
