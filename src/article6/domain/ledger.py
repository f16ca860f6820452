"""The registry state rebuilt from journal events, with its invariants.

`LedgerState.apply` is how `registry verify` replays the journal: it re-applies
every event's block operations to an in-memory state and refuses any operation
that could not have happened (moving a retired block, a second first transfer,
a split outside the block). `check_invariants` then proves conservation and
uniqueness of serials. The same checks guard the database projections, since
those are compared with this state.

The state keeps each block as the list of its values (`block_rows`, in
BLOCK_FIELDS order) and applies the split and move rules to those lists: a
replay of a long journal would otherwise spend most of its time building
frozen `Block` values. `blocks` shows the same blocks as `Block` values.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from article6.domain import codec
from article6.domain.blocks import (
    ACCOUNT_ID,
    APPROACH_ID,
    AUTHORIZATION_ID,
    AUTHORIZATION_VERSION,
    FIRST,
    FIRST_TRANSFERRED,
    ID,
    ISSUANCE_ID,
    LAST,
    PURPOSE,
    STATE,
    VINTAGE,
    BlockValues,
    block_from_dict,
    block_values,
    move_values,
    split_values,
)
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
    block_rows: dict[int, BlockValues] = field(default_factory=dict, repr=False)
    usage_t: dict[tuple[str, Purpose], int] = field(default_factory=lambda: defaultdict(int))
    awaiting_acquisition: dict[int, tuple[str, int]] = field(default_factory=dict)

    @property
    def blocks(self) -> Mapping[int, Block]:
        """Every block, split ones included, as `Block` values (built when read)."""
        return _BlockView(self.block_rows)

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
        command = event.command
        if command in BLOCK_COMMANDS:  # nearly every event: tested first
            if command == "UnitsIssued":
                issuance = codec.issuance_from_dict(p["issuance"])
                self._new(self.issuances, issuance.issuance_id, issuance)
            for raw in p["ops"]:
                self._apply_op(raw)
            if command in CROSS_REGISTRY_COMMANDS and p.get("to_registry") != event.registry_id:
                self.awaiting_acquisition[event.seq] = (p["to_registry"], p["quantity_t"])
            return
        match command:
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
        kind = raw["op"]
        rows = self.block_rows
        if kind == "split":
            parent = self._block(raw["parent"])
            low, high = split_values(parent, raw["at"], raw["low"], raw["high"])
            self._new(rows, low[ID], low)
            self._new(rows, high[ID], high)
            parent[STATE] = BlockState.SPLIT  # each list belongs to the state alone
        elif kind == "move":
            self._move(raw["block"], raw["from"], raw["to"], raw["changes"])
        elif kind == "create":
            block = block_from_dict(raw["block"])
            issuance = self.issuances.get(block.issuance_id)
            if issuance is None or block.account_id not in self.accounts:
                raise InvariantViolation(
                    f"block {block.block_id} created for unknown issuance/account"
                )
            values = block_values(block)
            self._new(self.block_rows, block.block_id, values)
            if block.first_transferred:
                self._record_first_transfer(values)
        else:
            raise InvariantViolation(f"unknown block operation {kind!r}")

    def _move(
        self, block_id: int, from_account: str, to_account: str, changes: dict[str, Any]
    ) -> None:
        block = self._block(block_id)
        if block[ACCOUNT_ID] != from_account:
            raise InvariantViolation(
                f"block {block_id} is in {block[ACCOUNT_ID]}, not {from_account}"
            )
        account = self.accounts.get(to_account)
        if account is None:
            raise InvariantViolation(f"block {block_id} moved to unknown account {to_account}")
        if block[FIRST_TRANSFERRED] and changes.get("first_transferred"):
            raise InvariantViolation(f"block {block_id} first transferred twice")
        moved = move_values(block, to_account, changes)
        retiring = account.kind in RETIREMENT_KINDS
        if retiring != (moved[STATE] is not BlockState.HELD):
            raise InvariantViolation(
                f"block {block_id} in a {account.kind.value} account has state {moved[STATE].value}"
            )
        if moved[FIRST_TRANSFERRED] and not block[FIRST_TRANSFERRED]:
            self._record_first_transfer(moved)
        self.block_rows[block_id] = moved

    def _record_first_transfer(self, block: BlockValues) -> None:
        authorization_id, purpose = block[AUTHORIZATION_ID], block[PURPOSE]
        if authorization_id is None or purpose is None:
            raise InvariantViolation(f"block {block[ID]} first transferred without authorization")
        key = (authorization_id, purpose)
        self.usage_t[key] += block[LAST] - block[FIRST] + 1
        versions = self.authorizations.get(authorization_id, [])
        number = block[AUTHORIZATION_VERSION]
        if number is None or not 1 <= number <= len(versions):
            raise InvariantViolation(f"block {block[ID]} names an unknown authorization version")
        version = versions[number - 1]
        if self.usage_t[key] > version.purpose_caps_t.get(purpose, 0):
            raise InvariantViolation(
                f"first transfers under {authorization_id} for {purpose.value} exceed "
                f"the cap of version {version.version}"
            )
        total = sum(q for (a, _), q in self.usage_t.items() if a == authorization_id)
        if total > version.quantity_cap_t:
            raise InvariantViolation(
                f"first transfers under {authorization_id} exceed its authorized quantity"
            )

    def _block(self, block_id: int) -> BlockValues:
        block = self.block_rows.get(block_id)
        if block is None:
            raise InvariantViolation(f"unknown block {block_id}")
        return block

    def balances(self) -> dict[tuple[str, str, int], int]:
        """Units per (account, approach, vintage), counting every non-split block."""
        totals: dict[tuple[str, str, int], int] = defaultdict(int)
        for b in self.block_rows.values():
            if b[STATE] is not BlockState.SPLIT:
                totals[(b[ACCOUNT_ID], b[APPROACH_ID], b[VINTAGE])] += b[LAST] - b[FIRST] + 1
        return dict(totals)

    def account_kind(self, account_id: str) -> AccountKind:
        return self.accounts[account_id].kind


class _BlockView(Mapping[int, Block]):
    """The state's block values seen as `Block` values, built on each read."""

    def __init__(self, rows: dict[int, BlockValues]) -> None:
        self._rows = rows

    def __getitem__(self, block_id: int) -> Block:
        return Block(*self._rows[block_id])

    def __iter__(self) -> Iterator[int]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


def check_invariants(state: LedgerState) -> None:
    """Conservation and uniqueness: per issuance the live blocks tile its serial range.

    Tiling exactly (sorted, contiguous, from first to last serial) proves both
    held + used + cancelled = issued and that no serial is in two live blocks.
    """
    live: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for b in state.block_rows.values():
        if b[STATE] is not BlockState.SPLIT:
            live[b[ISSUANCE_ID]].append((b[FIRST], b[LAST], b[ID]))
    for issuance_id, issuance in state.issuances.items():
        ranges = live.pop(issuance_id, [])
        ranges.sort()
        _check_tiling(issuance, ranges)
    if live:
        raise InvariantViolation(f"blocks of unknown issuances {sorted(live)}")
    if state.awaiting_acquisition:
        seq = min(state.awaiting_acquisition)
        raise InvariantViolation(f"transfer event {seq} has no matching acquisition")


def _check_tiling(issuance: Issuance, ranges: list[tuple[int, int, int]]) -> None:
    """`ranges` are the live blocks' (first, last, block id), sorted."""
    expected = issuance.first_serial
    total = 0
    for first, last, block_id in ranges:
        if first != expected:
            problem = "overlaps" if first < expected else "leaves a gap before"
            raise InvariantViolation(
                f"issuance {issuance.issuance_id}: block {block_id} "
                f"[{first}, {last}] {problem} serial {expected}"
            )
        if last < first:
            raise InvariantViolation(f"block {block_id} has last < first")
        expected = last + 1
        total += last - first + 1
    if total != issuance.quantity_t or expected != issuance.last_serial + 1:
        raise InvariantViolation(
            f"issuance {issuance.issuance_id}: live blocks hold {total} t "
            f"of {issuance.quantity_t} t"
        )
