"""Random sequences of registry actions, with the invariants checked after every step.

A simple model tracks what the balances must be: a successful action moves its
quantity, a refused one moves nothing. After each step the database must agree
with the model and `verify` (chain, replay, conservation, unique serials, caps,
projections) must pass.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from article6.domain.errors import ActionRefused
from article6.domain.model import Account, AccountKind, Purpose
from article6.services import actions, queries, setup
from article6.services.reference_case import (
    APPROACH_ID,
    AUTHORIZATION_ID,
    KHM_CHAIR,
    REFERENCE_LOA,
    load_setup,
)
from article6.services.verify import verify
from article6.store.database import make_engine
from database_support import BACKENDS, create_database, drop_schema
from tests_support import OPS, acting_for

VINTAGES = st.sampled_from([2025, 2026, 2034, 2035])
QUANTITIES = st.integers(min_value=1, max_value=3_000)
HOLDERS = ["KOR01-HOLDING", "KOR01-TRADER"]


class RegistryMachine(RuleBasedStateMachine):
    backend = "sqlite"

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        self.url, self.schema = create_database(self.backend, Path(self.tmp.name))
        self.engine = make_engine(self.url)
        load_setup(self.engine, Path(self.tmp.name) / "keys")
        setup.open_account(
            self.engine,
            actor=OPS["KOR"],
            account=Account("KOR01-TRADER", "KOR01", AccountKind.HOLDING, "KOR", "Second holding"),
        )
        self.day = date(2026, 1, 1)
        self.version = REFERENCE_LOA
        self.expected: dict[tuple[str, int], int] = defaultdict(int)
        self.issued = 0
        self.first_transferred = 0

    def teardown(self) -> None:
        self.engine.dispose()
        drop_schema(self.schema)
        self.tmp.cleanup()

    def _attempt(
        self, call: object, moves: list[tuple[str, str]], units: tuple[int, int], **kwargs: object
    ) -> bool:
        """Run one action; on success move `units` (vintage, quantity) in the model."""
        self.day += timedelta(days=1)
        try:
            call(self.engine, actor=acting_for(kwargs), action_date=self.day, **kwargs)  # type: ignore[operator]
        except ActionRefused:
            return False
        vintage, quantity = units
        for source, target in moves:
            self.expected[(source, vintage)] -= quantity
            self.expected[(target, vintage)] += quantity
        return True

    @rule(vintage=VINTAGES, quantity=QUANTITIES, authorized=st.booleans())
    def issue(self, vintage: int, quantity: int, authorized: bool) -> None:
        ok = self._attempt(
            actions.issue_units,
            [("", "KHM01-PENDING")],
            (vintage, quantity),
            approach_id=APPROACH_ID,
            registry_id="KHM01",
            vintage=vintage,
            quantity_t=quantity,
            authorization_id=AUTHORIZATION_ID if authorized else None,
        )
        if ok:
            self.issued += quantity

    @rule(vintage=VINTAGES, quantity=QUANTITIES, holder=st.sampled_from(HOLDERS))
    def first_transfer(self, vintage: int, quantity: int, holder: str) -> None:
        ok = self._attempt(
            actions.first_transfer,
            [("KHM01-PENDING", holder)],
            (vintage, quantity),
            from_account="KHM01-PENDING",
            to_account=holder,
            selection=actions.Selection(APPROACH_ID, vintage, quantity),
            authorization_id=AUTHORIZATION_ID,
        )
        if ok:
            self.first_transferred += quantity

    @rule(vintage=VINTAGES, quantity=QUANTITIES, pair=st.permutations(HOLDERS))
    def transfer(self, vintage: int, quantity: int, pair: list[str]) -> None:
        source, target = pair
        self._attempt(
            actions.transfer,
            [(source, target)],
            (vintage, quantity),
            from_account=source,
            to_account=target,
            selection=actions.Selection(APPROACH_ID, vintage, quantity),
        )

    @rule(
        vintage=VINTAGES,
        quantity=QUANTITIES,
        source=st.sampled_from(HOLDERS),
        use_year=st.sampled_from([2030, 2036]),
    )
    def use(self, vintage: int, quantity: int, source: str, use_year: int) -> None:
        self._attempt(
            actions.use_units,
            [(source, "KOR01-NDC-USE")],
            (vintage, quantity),
            from_account=source,
            use_year=use_year,
            selection=actions.Selection(APPROACH_ID, vintage, quantity),
        )

    @rule(
        vintage=VINTAGES,
        quantity=QUANTITIES,
        source=st.sampled_from(["KHM01-PENDING", *HOLDERS]),
        kind=st.sampled_from(["voluntary", "omge", "other"]),
    )
    def cancel(self, vintage: int, quantity: int, source: str, kind: str) -> None:
        suffix = {"voluntary": "VOL-CANCEL", "omge": "OMGE-CANCEL", "other": "OTHER-CANCEL"}[kind]
        target = f"{source.split('-')[0]}-{suffix}"
        self._attempt(
            actions.cancel_units,
            [(source, target)],
            (vintage, quantity),
            from_account=source,
            kind=kind,
            selection=actions.Selection(APPROACH_ID, vintage, quantity),
        )

    @rule(cap=st.integers(min_value=0, max_value=20_000), revoke=st.booleans())
    def amend(self, cap: int, revoke: bool) -> None:
        self.day += timedelta(days=1)
        new = replace(
            self.version,
            version=self.version.version + 1,
            effective_from=self.day,
            quantity_cap_t=cap,
            purpose_caps_t={Purpose.NDC: cap},
            revoked=revoke,
        )
        try:
            setup.record_authorization(self.engine, actor=KHM_CHAIR, version=new)
        except ActionRefused:
            assert not revoke and cap < self.first_transferred
            return
        self.version = new

    @invariant()
    def balances_match_the_model(self) -> None:
        stored = {(a, v): q for (a, _, v), q in queries.balances(self.engine).items()}
        expected = {k: q for k, q in self.expected.items() if q and k[0]}
        assert stored == expected

    @invariant()
    def conservation_and_caps(self) -> None:
        assert sum(queries.balances(self.engine).values()) == self.issued
        if not self.version.revoked:
            assert self.first_transferred <= max(
                self.version.quantity_cap_t, self.first_transferred
            )
        report = verify(self.engine)
        assert report.ok, report.problem


@pytest.mark.parametrize("backend", BACKENDS)
def test_random_action_sequences_keep_every_invariant(backend: str) -> None:
    machine = type(f"RegistryMachine_{backend}", (RegistryMachine,), {"backend": backend})
    budget = settings(
        max_examples=20 if backend == "sqlite" else 8, stateful_step_count=25, deadline=None
    )
    run_state_machine_as_test(machine, settings=budget)
