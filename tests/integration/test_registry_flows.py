"""The registry services on a real database: the reference case, every refusal,
idempotency, amendments and revocation, OIMP first transfers."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from article6.domain import codec
from article6.domain.errors import ActionRefused, RejectionCode
from article6.domain.model import Account, AccountKind, Approach, FirstTransferDefinition, Purpose
from article6.services import actions, queries, setup
from article6.services.reference_case import (
    APPROACH_ID,
    AUTHORIZATION_ID,
    KHM_CHAIR,
    REFERENCE_LOA,
    load_reference_flows,
    load_setup,
)
from article6.services.verify import verify
from article6.store import tables as t
from tests_support import OPS, acting_for

D = date(2026, 3, 1)


def sel(quantity: int, vintage: int = 2025, first_serial: int | None = None) -> actions.Selection:
    return actions.Selection(APPROACH_ID, vintage, quantity, first_serial)


def snapshot(engine: Engine) -> tuple[int, dict[tuple[str, str, int], int]]:
    with engine.connect() as connection:
        events = connection.execute(select(func.count()).select_from(t.journal)).scalar_one()
    return events, queries.balances(engine)


def refusal(engine: Engine, call: object, **kwargs: object) -> RejectionCode:
    """Run an action that must be refused; check it changed nothing."""
    before = snapshot(engine)
    with pytest.raises(ActionRefused) as refused:
        call(engine, actor=acting_for(kwargs), **kwargs)  # type: ignore[operator]
    assert snapshot(engine) == before
    return refused.value.code


@pytest.fixture
def registry(engine: Engine, key_dir: Path) -> Engine:
    load_setup(engine, key_dir)
    return engine


def issue(engine: Engine, quantity: int, vintage: int = 2025, **kwargs: object) -> None:
    actions.issue_units(
        engine,
        actor=OPS["KHM"],
        approach_id=APPROACH_ID,
        registry_id="KHM01",
        vintage=vintage,
        quantity_t=quantity,
        action_date=D,
        authorization_id=kwargs.pop("authorization_id", AUTHORIZATION_ID),
        **kwargs,
    )  # type: ignore[arg-type]


def first_transfer(engine: Engine, quantity: int, vintage: int = 2025, **kwargs: object) -> None:
    actions.first_transfer(
        engine,
        actor=OPS["KHM"],
        from_account="KHM01-PENDING",
        to_account="KOR01-HOLDING",
        selection=sel(quantity, vintage),
        authorization_id=AUTHORIZATION_ID,
        action_date=kwargs.pop("action_date", D),
        **kwargs,
    )  # type: ignore[arg-type]


def test_reference_case_holdings_and_identifiers(registry: Engine) -> None:
    load_reference_flows(registry)
    rows = {r.account_id: r for r in queries.holdings(registry)}
    assert rows["KHM01-PENDING"].quantity_t == 28_000
    assert rows["KHM01-PENDING"].first_id == "CA0001-KHM01-KHM-1-2025"
    assert rows["KHM01-PENDING"].first_transferred is False
    assert rows["KOR01-HOLDING"].quantity_t == 30_000
    assert rows["KOR01-HOLDING"].first_id == "CA0001-KHM01-KHM-28001-2025"
    assert rows["KOR01-NDC-USE"].last_id == "CA0001-KHM01-KHM-68000-2025"
    assert rows["KOR01-NDC-USE"].use_year == 2030
    assert queries.balances(registry) == {
        ("KHM01-PENDING", APPROACH_ID, 2025): 28_000,
        ("KOR01-HOLDING", APPROACH_ID, 2025): 30_000,
        ("KOR01-NDC-USE", APPROACH_ID, 2025): 10_000,
    }
    report = verify(registry)
    assert report.ok, report.problem
    assert len(queries.holdings(registry, "KOR01")) == 2


def test_cross_registry_transfer_records_an_acquisition(registry: Engine) -> None:
    issue(registry, 1_000)
    first_transfer(registry, 600)
    with registry.connect() as connection:
        rows = connection.execute(
            select(t.journal.c.command, t.journal.c.registry_id).order_by(t.journal.c.seq.desc())
        ).all()[:2]
    assert [tuple(r) for r in rows] == [
        ("UnitsAcquired", "KOR01"),
        ("UnitsFirstTransferred", "KHM01"),
    ]


def test_authorization_cap_holds_across_vintages(registry: Engine) -> None:
    for vintage in (2025, 2026, 2027):
        issue(registry, 150_000, vintage)
    first_transfer(registry, 150_000, 2025)
    first_transfer(registry, 150_000, 2026)
    assert refusal(
        registry,
        actions.first_transfer,
        from_account="KHM01-PENDING",
        to_account="KOR01-HOLDING",
        selection=sel(100_001, 2027),
        authorization_id=AUTHORIZATION_ID,
        action_date=D,
    ) is (RejectionCode.AUTHORIZED_QUANTITY_EXCEEDED)
    first_transfer(registry, 100_000, 2027)
    assert verify(registry).ok


def test_refusals_change_nothing(registry: Engine) -> None:
    issue(registry, 68_000)
    cases = [
        (
            actions.issue_units,
            {
                "approach_id": APPROACH_ID,
                "registry_id": "KHM01",
                "vintage": 2035,
                "quantity_t": 5,
                "action_date": D,
                "authorization_id": AUTHORIZATION_ID,
            },
            RejectionCode.VINTAGE_OUTSIDE_AUTHORIZED_TIMEFRAME,
        ),
        (
            actions.issue_units,
            {
                "approach_id": APPROACH_ID,
                "registry_id": "KOR01",
                "vintage": 2025,
                "quantity_t": 5,
                "action_date": D,
            },
            RejectionCode.ACCOUNT_REGISTRY_MISMATCH,
        ),
        (
            actions.issue_units,
            {
                "approach_id": "CA0009",
                "registry_id": "KHM01",
                "vintage": 2025,
                "quantity_t": 5,
                "action_date": D,
            },
            RejectionCode.UNKNOWN_APPROACH,
        ),
        (
            actions.issue_units,
            {
                "approach_id": APPROACH_ID,
                "registry_id": "KHM01",
                "vintage": 2025,
                "quantity_t": 0,
                "action_date": D,
            },
            RejectionCode.INVALID_QUANTITY,
        ),
        (
            actions.first_transfer,
            {
                "from_account": "KHM01-PENDING",
                "to_account": "KOR01-NOPE",
                "selection": sel(1),
                "authorization_id": AUTHORIZATION_ID,
                "action_date": D,
            },
            RejectionCode.UNKNOWN_ACCOUNT,
        ),
        (
            actions.first_transfer,
            {
                "from_account": "KHM01-PENDING",
                "to_account": "KOR01-HOLDING",
                "selection": sel(1),
                "authorization_id": AUTHORIZATION_ID,
                "action_date": date(2025, 1, 1),
            },
            RejectionCode.AUTHORIZATION_NOT_IN_FORCE,
        ),
        (
            actions.first_transfer,
            {
                "from_account": "KHM01-PENDING",
                "to_account": "KHM01-HOLDING",
                "selection": sel(1),
                "authorization_id": AUTHORIZATION_ID,
                "action_date": D,
            },
            RejectionCode.ACCOUNT_REGISTRY_MISMATCH,
        ),
        (
            actions.first_transfer,
            {
                "from_account": "KHM01-PENDING",
                "to_account": "KOR01-HOLDING",
                "selection": sel(68_001),
                "authorization_id": AUTHORIZATION_ID,
                "action_date": D,
            },
            RejectionCode.INSUFFICIENT_UNITS,
        ),
        (
            actions.first_transfer,
            {
                "from_account": "KHM01-PENDING",
                "to_account": "KOR01-NDC-USE",
                "selection": sel(1),
                "authorization_id": AUTHORIZATION_ID,
                "action_date": D,
            },
            RejectionCode.ACCOUNT_KIND_NOT_ALLOWED,
        ),
        (
            actions.transfer,
            {
                "from_account": "KHM01-PENDING",
                "to_account": "KOR01-HOLDING",
                "selection": sel(1),
                "action_date": D,
            },
            RejectionCode.NOT_FIRST_TRANSFERRED,
        ),
        (
            actions.use_units,
            {
                "from_account": "KHM01-PENDING",
                "selection": sel(1),
                "use_year": 2030,
                "action_date": D,
            },
            RejectionCode.ACCOUNT_KIND_NOT_ALLOWED,
        ),
        (
            actions.cancel_units,
            {
                "from_account": "KHM01-PENDING",
                "selection": sel(1),
                "kind": "forgotten",
                "action_date": D,
            },
            RejectionCode.ACCOUNT_KIND_NOT_ALLOWED,
        ),
    ]
    for call, kwargs, code in cases:
        assert refusal(registry, call, **kwargs) is code, kwargs
    assert verify(registry).ok


def test_use_is_checked_against_the_authorization(registry: Engine) -> None:
    issue(registry, 10_000)
    first_transfer(registry, 10_000)
    assert (
        refusal(
            registry,
            actions.use_units,
            from_account="KOR01-HOLDING",
            selection=sel(10),
            use_year=2036,
            action_date=D,
        )
        is RejectionCode.USE_OUTSIDE_AUTHORIZED_TIMEFRAME
    )
    assert (
        refusal(
            registry,
            actions.use_units,
            from_account="KOR01-HOLDING",
            selection=sel(10),
            action_date=D,
        )
        is RejectionCode.USE_OUTSIDE_AUTHORIZED_TIMEFRAME
    )
    assert refusal(
        registry,
        actions.use_units,
        from_account="KOR01-HOLDING",
        selection=sel(10),
        use_year=2030,
        purpose=Purpose.OIMP,
        action_date=D,
    ) is (RejectionCode.PURPOSE_NOT_AUTHORIZED)
    # Korea sends units back to Cambodia, which may not use them towards its own NDC.
    actions.transfer(
        registry,
        actor=OPS["KOR"],
        from_account="KOR01-HOLDING",
        to_account="KHM01-HOLDING",
        selection=sel(100),
        action_date=D,
    )
    assert (
        refusal(
            registry,
            actions.use_units,
            from_account="KHM01-HOLDING",
            selection=sel(100),
            use_year=2030,
            action_date=D,
        )
        is RejectionCode.ACQUIRING_PARTY_NOT_AUTHORIZED
    )


def test_nothing_happens_after_a_terminal_action(registry: Engine) -> None:
    issue(registry, 1_000)
    first_transfer(registry, 1_000)
    actions.use_units(
        registry,
        actor=OPS["KOR"],
        from_account="KOR01-HOLDING",
        selection=sel(100, first_serial=901),
        use_year=2030,
        action_date=D,
    )
    for call, kwargs in [
        (actions.use_units, {"from_account": "KOR01-HOLDING", "use_year": 2031}),
        (actions.cancel_units, {"from_account": "KOR01-HOLDING"}),
        (actions.transfer, {"from_account": "KOR01-HOLDING", "to_account": "KHM01-HOLDING"}),
    ]:
        code = refusal(registry, call, selection=sel(10, first_serial=950), action_date=D, **kwargs)
        assert code in {RejectionCode.SERIAL_RANGE_INVALID, RejectionCode.UNITS_RETIRED}
    actions.cancel_units(
        registry,
        actor=OPS["KOR"],
        from_account="KOR01-HOLDING",
        selection=sel(900),
        kind="voluntary",
        action_date=D,
    )
    assert (
        refusal(
            registry,
            actions.cancel_units,
            from_account="KOR01-HOLDING",
            selection=sel(1),
            action_date=D,
        )
        is RejectionCode.INSUFFICIENT_UNITS
    )
    assert verify(registry).ok


def test_amendment_is_not_retroactive_and_revocation_stops_first_transfers(
    registry: Engine,
) -> None:
    issue(registry, 100_000)
    first_transfer(registry, 40_000)
    amended = replace(
        REFERENCE_LOA,
        version=2,
        effective_from=date(2026, 6, 1),
        quantity_cap_t=300_000,
        purpose_caps_t={Purpose.NDC: 300_000},
    )
    setup.record_authorization(registry, actor=KHM_CHAIR, version=amended)
    first_transfer(registry, 10_000, action_date=date(2026, 7, 1))
    versions = {r.authorization for r in queries.holdings(registry, "KOR01")}
    assert versions == {f"{AUTHORIZATION_ID} v1", f"{AUTHORIZATION_ID} v2"}
    # A version cannot cut the cap below what was already first transferred.
    too_low = replace(
        amended, version=3, quantity_cap_t=49_999, purpose_caps_t={Purpose.NDC: 49_999}
    )
    assert refusal(registry, setup.record_authorization, version=too_low) is (
        RejectionCode.AUTHORIZED_QUANTITY_EXCEEDED
    )
    revoked = replace(
        amended,
        version=3,
        effective_from=date(2026, 9, 1),
        revoked=True,
        reason="Project suspended",
    )
    setup.record_authorization(registry, actor=KHM_CHAIR, version=revoked)
    assert (
        refusal(
            registry,
            actions.first_transfer,
            from_account="KHM01-PENDING",
            to_account="KOR01-HOLDING",
            selection=sel(1),
            authorization_id=AUTHORIZATION_ID,
            action_date=date(2026, 9, 2),
        )
        is RejectionCode.AUTHORIZATION_REVOKED
    )
    # Units first transferred before the revocation can still be used.
    actions.use_units(
        registry,
        actor=OPS["KOR"],
        from_account="KOR01-HOLDING",
        selection=sel(50_000),
        use_year=2030,
        action_date=date(2026, 9, 3),
    )
    assert verify(registry).ok


def test_idempotency_key_repeats_answer_without_change(registry: Engine) -> None:
    issue(registry, 1_000)
    receipt = actions.first_transfer(
        registry,
        actor=OPS["KHM"],
        from_account="KHM01-PENDING",
        to_account="KOR01-HOLDING",
        selection=sel(100),
        authorization_id=AUTHORIZATION_ID,
        action_date=D,
        idempotency_key="ft-1",
    )
    before = snapshot(registry)
    again = actions.first_transfer(
        registry,
        actor=OPS["KHM"],
        from_account="KHM01-PENDING",
        to_account="KOR01-HOLDING",
        selection=sel(100),
        authorization_id=AUTHORIZATION_ID,
        action_date=D,
        idempotency_key="ft-1",
    )
    assert again.replayed and (again.seq, again.hash, again.details) == (
        receipt.seq,
        receipt.hash,
        receipt.details,
    )
    assert snapshot(registry) == before
    assert (
        refusal(
            registry,
            actions.first_transfer,
            from_account="KHM01-PENDING",
            to_account="KOR01-HOLDING",
            selection=sel(101),
            authorization_id=AUTHORIZATION_ID,
            action_date=D,
            idempotency_key="ft-1",
        )
        is RejectionCode.IDEMPOTENCY_CONFLICT
    )


def test_unauthorized_units_stay_home(registry: Engine) -> None:
    issue(registry, 500, authorization_id=None)
    assert (
        refusal(
            registry,
            actions.first_transfer,
            from_account="KHM01-PENDING",
            to_account="KOR01-HOLDING",
            selection=sel(1),
            authorization_id=AUTHORIZATION_ID,
            action_date=D,
        )
        is RejectionCode.NOT_AUTHORIZED_UNITS
    )
    actions.transfer(
        registry,
        actor=OPS["KHM"],
        from_account="KHM01-PENDING",
        to_account="KHM01-HOLDING",
        selection=sel(500),
        action_date=D,
    )
    assert queries.balances(registry, "KHM01-HOLDING") == {
        ("KHM01-HOLDING", APPROACH_ID, 2025): 500
    }


def test_underlying_units_follow_their_itmos(registry: Engine) -> None:
    issue(registry, 1_000, underlying_registry="VCS", underlying_first=70_001)
    first_transfer(registry, 300)
    with registry.connect() as connection:
        rows = connection.execute(
            select(t.blocks.c.first, t.blocks.c.underlying_first, t.blocks.c.account_id)
            .where(t.blocks.c.state == "held")
            .order_by(t.blocks.c.first)
        ).all()
    assert [tuple(r) for r in rows] == [
        (1, 70_001, "KHM01-PENDING"),
        (701, 70_701, "KOR01-HOLDING"),
    ]


def test_oimp_first_transfer_at_issuance_or_at_use(registry: Engine) -> None:
    setup.register_approach(
        registry, actor=OPS["KHM"], approach=replace(setup_approach(registry), approach_id="CA0002")
    )
    at_issuance = replace(
        REFERENCE_LOA,
        authorization_id="KHM-OIMP-1",
        approach_id="CA0002",
        purpose_caps_t={Purpose.OIMP: 5_000},
        quantity_cap_t=5_000,
        oimp_first_transfer=FirstTransferDefinition.ISSUANCE,
        oimp_named="CORSIA",
    )
    setup.record_authorization(registry, actor=KHM_CHAIR, version=at_issuance)
    actions.issue_units(
        registry,
        actor=OPS["KHM"],
        approach_id="CA0002",
        registry_id="KHM01",
        vintage=2025,
        quantity_t=5_000,
        action_date=D,
        authorization_id="KHM-OIMP-1",
    )
    assert refusal(
        registry,
        actions.issue_units,
        approach_id="CA0002",
        registry_id="KHM01",
        vintage=2025,
        quantity_t=1,
        action_date=D,
        authorization_id="KHM-OIMP-1",
    ) is (RejectionCode.AUTHORIZED_QUANTITY_EXCEEDED)
    oimp_sel = actions.Selection("CA0002", 2025, 1_000)
    actions.transfer(
        registry,
        actor=OPS["KHM"],
        from_account="KHM01-PENDING",
        to_account="KOR01-HOLDING",
        selection=oimp_sel,
        action_date=D,
    )
    actions.use_units(
        registry,
        actor=OPS["KOR"],
        from_account="KOR01-HOLDING",
        selection=oimp_sel,
        purpose=Purpose.OIMP,
        action_date=D,
    )

    at_use = replace(
        at_issuance,
        authorization_id="KHM-OIMP-2",
        oimp_first_transfer=FirstTransferDefinition.USE_OR_CANCELLATION,
    )
    setup.record_authorization(registry, actor=KHM_CHAIR, version=at_use)
    setup.open_account(
        registry,
        actor=OPS["KHM"],
        account=Account(
            "KHM01-AIRLINE", "KHM01", AccountKind.HOLDING, "VERYWORDS", "Entity holding"
        ),
    )
    actions.issue_units(
        registry,
        actor=OPS["KHM"],
        approach_id="CA0002",
        registry_id="KHM01",
        vintage=2026,
        quantity_t=2_000,
        action_date=D,
        authorization_id="KHM-OIMP-2",
        to_account="KHM01-AIRLINE",
    )
    actions.use_units(
        registry,
        actor=OPS["KHM"],
        from_account="KHM01-AIRLINE",
        selection=actions.Selection("CA0002", 2026, 500),
        purpose=Purpose.OIMP,
        entity="VERYWORDS",
        action_date=D,
    )
    used = [r for r in queries.holdings(registry, "KHM01") if r.state == "used"]
    assert [(r.quantity_t, r.first_transferred) for r in used] == [(500, True)]
    assert verify(registry).ok


def setup_approach(engine: Engine) -> Approach:
    with engine.connect() as connection:
        row = connection.execute(select(t.approaches.c.data)).first()
    assert row is not None
    return codec.approach_from_dict(json.loads(row.data))
