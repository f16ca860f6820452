"""The screens' read models on every database backend: totals per vintage,
serial lookup by integer serial, block lineage, accounts and projects."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from article6.services.reference_workflow import load_reference_workflow
from article6.web import readmodels


def test_read_models_of_the_reference_case(engine: Engine, key_dir: Path) -> None:
    load_reference_workflow(engine, key_dir)

    totals = readmodels.vintage_totals(engine)
    assert [
        (t.approach_id, t.vintage, t.issued_t, t.first_transferred_t, t.used_t, t.cancelled_t)
        for t in totals
    ] == [("CA0001", 2025, 68_000, 61_200, 10_000, 0)]

    held = readmodels.lookup_serial(engine, "CA0001-KHM01-KHM-40000-2025")
    assert held is not None and held.block is not None
    assert (held.registry_id, held.block.account_id, held.block.state) == (
        "KOR01",
        "KOR01-HOLDING",
        "held",
    )
    assert (held.block.first_serial, held.block.last_serial) == (6_801, 58_000)
    used = readmodels.lookup_serial(engine, "CA0001-KHM01-KHM-58001-2025")
    assert used is not None and used.block is not None
    assert (used.block.state, used.block.use_year) == ("used", 2030)
    unknown = readmodels.lookup_serial(engine, "CA0001-KHM01-KHM-68001-2025")
    assert unknown is not None and unknown.block is None
    assert readmodels.lookup_serial(engine, "CA0001-KHM01-KHM-x-2025") is None

    ancestors, children = readmodels.lineage(engine, held.block.block_id)
    assert [(b.first_serial, b.last_serial, b.state) for b in ancestors] == [
        (6_801, 68_000, "split")
    ]
    assert children == []
    _, split_children = readmodels.lineage(engine, ancestors[0].block_id)
    assert [(b.first_serial, b.last_serial) for b in split_children] == [
        (6_801, 58_000),
        (58_001, 68_000),
    ]

    accounts = {a.account_id: a.held_t for a in readmodels.accounts(engine)}
    assert accounts["KOR01-HOLDING"] == 51_200 and accounts["KHM01-HOLDING"] == 6_800
    assert [b.quantity_t for b in readmodels.blocks_of(engine, "KOR01-NDC-USE")] == [10_000]

    (project,) = readmodels.projects(engine)
    detail = readmodels.project(engine, project.project_id)
    assert detail is not None and detail.state == "registered"
    assert detail.pending_members == ()
    assert len(detail.reviews) == 5
    (period,) = detail.periods
    assert (period.state, period.reductions_t, period.verified_t) == (
        "issued",
        {"2025": 68_000},
        {"2025": 68_000},
    )
    assert readmodels.project(engine, "NO-SUCH-PROJECT") is None
