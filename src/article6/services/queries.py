"""Read models of the registry: holdings with their ITMO identifiers, balances.

Screens and reports read these projections; they never rebuild domain objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select

from article6.domain.identifiers import itmo_id
from article6.domain.model import BlockState
from article6.store import tables as t
from article6.store.ledger_store import BLOCK_COLUMNS, row_to_block

MAX_ROWS = 100_000


@dataclass(frozen=True)
class HoldingRow:
    registry_id: str
    account_id: str
    block_id: int
    first_id: str
    last_id: str
    quantity_t: int
    vintage: int
    state: str
    first_transferred: bool
    authorization: str | None
    use_year: int | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def holdings(
    engine: Engine, registry_id: str | None = None, limit: int = MAX_ROWS
) -> list[HoldingRow]:
    """Every live block (held, used or cancelled), by account and serial."""
    query = (
        select(*BLOCK_COLUMNS, t.accounts.c.registry_id)
        .join(t.accounts, t.accounts.c.account_id == t.blocks.c.account_id)
        .where(t.blocks.c.state != BlockState.SPLIT.value)
        .order_by(
            t.blocks.c.account_id, t.blocks.c.approach_id, t.blocks.c.vintage, t.blocks.c.first
        )
        .limit(min(limit, MAX_ROWS))
    )
    if registry_id is not None:
        query = query.where(t.accounts.c.registry_id == registry_id)
    rows = []
    with engine.connect() as connection:
        for row in connection.execute(query):
            block = row_to_block(row[:-1])
            ident = (block.approach_id, block.originating_registry, block.first_transferring_party)
            version = block.authorization_version
            rows.append(
                HoldingRow(
                    registry_id=row[-1],
                    account_id=block.account_id,
                    block_id=block.block_id,
                    first_id=itmo_id(*ident, block.first, block.vintage),
                    last_id=itmo_id(*ident, block.last, block.vintage),
                    quantity_t=block.quantity_t,
                    vintage=block.vintage,
                    state=block.state.value,
                    first_transferred=block.first_transferred,
                    authorization=(
                        None
                        if block.authorization_id is None
                        else f"{block.authorization_id}" + (f" v{version}" if version else "")
                    ),
                    use_year=block.use_year,
                )
            )
    return rows


def balances(engine: Engine, account_id: str | None = None) -> dict[tuple[str, str, int], int]:
    """Units per (account, approach, vintage) from the balances projection."""
    query = select(t.balances).where(t.balances.c.quantity_t != 0)
    if account_id is not None:
        query = query.where(t.balances.c.account_id == account_id)
    with engine.connect() as connection:
        return {
            (r.account_id, r.approach_id, r.vintage): r.quantity_t
            for r in connection.execute(query)
        }
