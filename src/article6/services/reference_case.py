"""The Korea–Cambodia reference case, loaded through the services.

Cambodia (registry KHM01) authorizes 400,000 t of VeryWords' e-motorcycle
reductions, vintages 2025–2034, for Korea's NDC (LoA of 2025-07-18); a 2025
issuance of 68,000 t, a first transfer of 40,000 t to KOR01 and a use of
10,000 t towards Korea's 2030 NDC follow.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import Engine

from article6.domain.model import (
    Approach,
    AuthorizationVersion,
    Entity,
    Purpose,
)
from article6.domain.permissions import Actor, Role
from article6.services import actions, setup

APPROACH_ID = "CA0001"
AUTHORIZATION_ID = "KHM-LOA-2025-001"
LOA_DATE = date(2025, 7, 18)


# The people who act in the reference case, with the roles the permission table needs.
SYSTEM_ADMIN = Actor("admin", "ARTICLE6-OPS", None, frozenset({Role.SYSTEM_ADMINISTRATOR}))
KHM_CHAIR = Actor("khm-chair", "KHM-MOE", "KHM", frozenset({Role.HOST_CHAIR}))
KHM_COORDINATOR = Actor("khm-coordinator", "KHM-MOE", "KHM", frozenset({Role.HOST_COORDINATOR}))
KHM_REGISTRY = Actor("khm-registry", "KHM-MOE", "KHM", frozenset({Role.REGISTRY_ADMINISTRATOR}))
KOR_REGISTRY = Actor("kor-registry", "KOR-MOTIE", "KOR", frozenset({Role.REGISTRY_ADMINISTRATOR}))

REFERENCE_LOA = AuthorizationVersion(
    authorization_id=AUTHORIZATION_ID,
    version=1,
    approach_id=APPROACH_ID,
    authorizing_party="KHM",
    authorization_date=LOA_DATE,
    effective_from=LOA_DATE,
    quantity_cap_t=400_000,
    purpose_caps_t={Purpose.NDC: 400_000},
    acquiring_parties=("KOR",),
    entities=("VERYWORDS",),
    vintage_from=2025,
    vintage_to=2034,
    use_from=2025,
    use_to=2035,
    terms="Use towards Korea's NDC only; changes by written amendment of the host Party.",
)


def load_setup(engine: Engine, key_dir: Path) -> None:
    """Parties, registries, the developer entity, the approach and the LoA (version 1)."""
    setup.register_party(engine, actor=SYSTEM_ADMIN, code="KHM", name="Kingdom of Cambodia")
    setup.register_party(engine, actor=SYSTEM_ADMIN, code="KOR", name="Republic of Korea")
    for registry_id, name in (("KHM01", "Cambodia"), ("KOR01", "Korea")):
        setup.open_registry(
            engine,
            actor=SYSTEM_ADMIN,
            registry_id=registry_id,
            name=f"{name} Article 6 registry",
            key_dir=key_dir,
        )
    setup.register_entity(
        engine,
        actor=KHM_REGISTRY,
        entity=Entity("VERYWORDS", "VeryWords Co., Ltd.", "KOR", "KR-110111-0000000"),
    )
    setup.register_approach(
        engine,
        actor=KHM_COORDINATOR,
        approach=Approach(
            approach_id=APPROACH_ID,
            name="Cambodia–Korea electric motorcycles and battery swapping",
            host_party="KHM",
            participating_parties=("KHM", "KOR"),
        ),
    )
    setup.record_authorization(engine, actor=KHM_CHAIR, version=REFERENCE_LOA)


def load_reference_flows(engine: Engine) -> None:
    """Issue 68,000 t of 2025, first transfer 40,000 t to Korea, use 10,000 t for 2030."""
    actions.issue_units(
        engine,
        actor=KHM_REGISTRY,
        approach_id=APPROACH_ID,
        registry_id="KHM01",
        vintage=2025,
        quantity_t=68_000,
        action_date=date(2026, 3, 2),
        authorization_id=AUTHORIZATION_ID,
        idempotency_key="demo-issue-2025",
    )
    actions.first_transfer(
        engine,
        actor=KHM_REGISTRY,
        from_account="KHM01-PENDING",
        to_account="KOR01-HOLDING",
        selection=actions.Selection(APPROACH_ID, 2025, 40_000),
        authorization_id=AUTHORIZATION_ID,
        action_date=date(2026, 3, 16),
        idempotency_key="demo-first-transfer-2025",
    )
    actions.use_units(
        engine,
        actor=KOR_REGISTRY,
        from_account="KOR01-HOLDING",
        selection=actions.Selection(APPROACH_ID, 2025, 10_000),
        action_date=date(2026, 4, 1),
        use_year=2030,
        idempotency_key="demo-use-2025",
    )
