"""The reference case carried through the whole workflow, as people would do it.

Organisations and users of the Korea–Cambodia approach, the working group's
review, Cambodia's LoA of 2025-07-18, registration, the first monitoring
period (2025: 68,000 t), its verification, the issuance allocated 10 % to
Cambodia and the rest to Korea within its 400,000 t, and Korea's use of
10,000 t towards its 2030 NDC. Used by the demo and the end-to-end tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from pathlib import Path

from sqlalchemy import Engine

from article6.domain.allocation import AllocationRules, RemainderTo
from article6.domain.model import Approach, Entity
from article6.domain.permissions import Actor, Role
from article6.domain.projects import REVIEW_QUESTIONS, Verdict
from article6.services import actions, identity, monitoring, projects, setup
from article6.services.identity import Organisation

APPROACH_ID = "CA0001"
PROJECT_ID = "VW-EMOTO-KHM"
AUTHORIZATION_ID = "KHM-LOA-2025-001"
DEMO_PASSWORD = "article6-demo-2025"

ORGANISATIONS = (
    Organisation("KHM-MOE", "Ministry of Environment of Cambodia", "KHM", "ministry"),
    Organisation("KOR-MOTIE", "Ministry of Trade, Industry and Energy of Korea", "KOR", "ministry"),
    Organisation("GGGI", "Global Green Growth Institute", None, "international organisation"),
    Organisation("KOTRA", "Korea Trade-Investment Promotion Agency", "KOR", "agency"),
    Organisation("KEA", "Korea Energy Agency", "KOR", "agency"),
    Organisation("VERYWORDS", "VeryWords Co., Ltd.", "KOR", "project developer"),
    Organisation("IVB", "Independent Verification Body", None, "verifier"),
    Organisation("KOR-ISP", "Korea investment support programme", "KOR", "financier"),
    Organisation("PUBLIC", "Public observers", None, "observer"),
)

R = Role
USERS: tuple[tuple[str, str, str, frozenset[Role], str], ...] = (
    ("khm-chair", "KHM-MOE", "Chair, Article 6 committee", frozenset({R.HOST_CHAIR}), "km"),
    ("khm-coordinator", "KHM-MOE", "Article 6 secretariat", frozenset({R.HOST_COORDINATOR}), "km"),
    (
        "khm-reviewer",
        "KHM-MOE",
        "Technical reviewer",
        frozenset({R.HOST_TECHNICAL_REVIEWER, R.WORKING_GROUP_MEMBER}),
        "km",
    ),
    (
        "khm-registry",
        "KHM-MOE",
        "Registry administrator",
        frozenset({R.REGISTRY_ADMINISTRATOR}),
        "km",
    ),
    (
        "kor-motie",
        "KOR-MOTIE",
        "International mitigation officer",
        frozenset({R.ACQUIRING_AUTHORITY, R.WORKING_GROUP_MEMBER}),
        "ko",
    ),
    (
        "kor-registry",
        "KOR-MOTIE",
        "Registry administrator",
        frozenset({R.REGISTRY_ADMINISTRATOR}),
        "ko",
    ),
    ("gggi-reviewer", "GGGI", "Working group member", frozenset({R.WORKING_GROUP_MEMBER}), "en"),
    ("kotra-reviewer", "KOTRA", "Working group member", frozenset({R.WORKING_GROUP_MEMBER}), "ko"),
    ("kea-reviewer", "KEA", "Working group member", frozenset({R.WORKING_GROUP_MEMBER}), "ko"),
    ("verywords-dev", "VERYWORDS", "Project manager", frozenset({R.PROJECT_DEVELOPER}), "ko"),
    ("verifier", "IVB", "Lead verifier", frozenset({R.VERIFIER}), "en"),
    ("isp-manager", "KOR-ISP", "Fund manager", frozenset({R.FINANCIER}), "ko"),
    ("observer", "PUBLIC", "Observer", frozenset({R.OBSERVER}), "en"),
)

WORKING_GROUP = ["KHM-MOE", "KOR-MOTIE", "GGGI", "KOTRA", "KEA"]

# Korean press: 10 % to Cambodia, 400,000 t to Korea, the remainder to VeryWords.
ALLOCATION = AllocationRules(
    host_share=Fraction(1, 10), acquirer_cap_t=400_000, remainder_to=RemainderTo.DEVELOPER
)
EX_ANTE_T = {
    2025: 68_000,
    2026: 68_000,
    2027: 68_000,
    2028: 68_000,
    2029: 68_000,
    2030: 68_000,
    2031: 68_000,
    2032: 68_000,
    2033: 68_000,
    2034: 68_000,
}

PROPOSAL = projects.Proposal(
    title="Electric motorcycles and battery swapping in Phnom Penh and Siem Reap",
    description="VeryWords deploys e-motorcycles, charging units and about 100 battery-swap "
    "stations replacing gasoline motorcycles, 2025-2034.",
    methodology="AMS-III.C",
    methodology_version="16.0",
    host_party="KHM",
    acquiring_party="KOR",
    ex_ante_t=EX_ANTE_T,
    allocation=ALLOCATION,
    use_from=2025,
    use_to=2035,
    documents=("Project design document.pdf", "Monitoring plan.pdf"),
)


@dataclass(frozen=True)
class Cast:
    """The actors of the reference case, looked up by user id."""

    actors: dict[str, Actor]

    def __getitem__(self, user_id: str) -> Actor:
        return self.actors[user_id]


def load_people(engine: Engine, key_dir: Path) -> Cast:
    """Administrator, organisations, users, Parties, registries, the approach, the working group."""
    identity.bootstrap_administrator(
        engine, user_id="admin", name="System administrator", password=DEMO_PASSWORD
    )
    admin = identity.load_actor(engine, "admin")
    for organisation in ORGANISATIONS:
        identity.register_organisation(engine, actor=admin, organisation=organisation)
    for user_id, organisation_id, name, roles, locale in USERS:
        identity.register_user(
            engine,
            actor=admin,
            user_id=user_id,
            organisation_id=organisation_id,
            name=name,
            password=DEMO_PASSWORD,
            roles=roles,
            locale=locale,
        )
    cast = Cast({u: identity.load_actor(engine, u) for u in ["admin", *(u[0] for u in USERS)]})
    setup.register_party(engine, actor=admin, code="KHM", name="Kingdom of Cambodia")
    setup.register_party(engine, actor=admin, code="KOR", name="Republic of Korea")
    for registry_id, name in (("KHM01", "Cambodia"), ("KOR01", "Korea")):
        setup.open_registry(
            engine,
            actor=admin,
            registry_id=registry_id,
            name=f"{name} Article 6 registry",
            key_dir=key_dir,
        )
    setup.register_approach(
        engine,
        actor=cast["khm-coordinator"],
        approach=Approach(
            approach_id=APPROACH_ID,
            name="Cambodia–Korea electric motorcycles and battery swapping",
            host_party="KHM",
            participating_parties=("KHM", "KOR"),
        ),
    )
    projects.configure_working_group(
        engine, actor=cast["khm-coordinator"], approach_id=APPROACH_ID, organisations=WORKING_GROUP
    )
    return cast


def load_project_to_registration(engine: Engine, cast: Cast) -> None:
    """Submission, the working group's review, the LoA and registration."""
    developer = cast["verywords-dev"]
    projects.create_project(
        engine, actor=developer, project_id=PROJECT_ID, approach_id=APPROACH_ID, proposal=PROPOSAL
    )
    projects.submit_project(engine, actor=developer, project_id=PROJECT_ID)
    projects.start_review(engine, actor=cast["khm-coordinator"], project_id=PROJECT_ID)
    approve = {question: Verdict.APPROVE for question in REVIEW_QUESTIONS}
    for reviewer in (
        "khm-reviewer",
        "kor-motie",
        "gggi-reviewer",
        "kotra-reviewer",
        "kea-reviewer",
    ):
        projects.review_project(
            engine,
            actor=cast[reviewer],
            project_id=PROJECT_ID,
            verdicts=approve,
            comment="Methodology, totals and allocation ratios agreed.",
        )
    projects.issue_loa(
        engine,
        actor=cast["khm-chair"],
        project_id=PROJECT_ID,
        authorization_id=AUTHORIZATION_ID,
        authorization_date=date(2025, 7, 18),
        developer_entity=Entity("VERYWORDS", "VeryWords Co., Ltd.", "KOR", "KR-110111-0000000"),
        terms="Use towards Korea's NDC only. Changes and revocation by written "
        "notice of the host Party; never retroactive for first transferred units.",
    )
    projects.register_project(
        engine, actor=cast["khm-coordinator"], project_id=PROJECT_ID, registry_id="KHM01"
    )


def load_first_period(
    engine: Engine, cast: Cast, reductions_t: int = 68_000, use_t: int = 10_000
) -> None:
    """Monitoring period 1 (2025): report, verification, issuance and allocation, then a use."""
    monitoring.submit_monitoring_report(
        engine,
        actor=cast["verywords-dev"],
        project_id=PROJECT_ID,
        period=1,
        start=date(2025, 1, 1),
        end=date(2025, 12, 31),
        reductions_t={2025: reductions_t},
    )
    monitoring.assign_verifier(
        engine, actor=cast["khm-coordinator"], project_id=PROJECT_ID, period=1, verifier="IVB"
    )
    monitoring.verify_period(
        engine,
        actor=cast["verifier"],
        project_id=PROJECT_ID,
        period=1,
        verified_t={2025: reductions_t},
        opinion="Reasonable assurance: reductions fairly stated.",
    )
    monitoring.request_issuance(
        engine, actor=cast["verywords-dev"], project_id=PROJECT_ID, period=1
    )
    monitoring.perform_issuance(
        engine,
        actor=cast["khm-registry"],
        project_id=PROJECT_ID,
        period=1,
        registry_id="KHM01",
        acquirer_account="KOR01-HOLDING",
        action_date=date(2026, 3, 2),
    )
    if not use_t:
        return
    actions.use_units(
        engine,
        actor=cast["kor-registry"],
        from_account="KOR01-HOLDING",
        selection=actions.Selection(APPROACH_ID, 2025, use_t),
        action_date=date(2026, 4, 1),
        use_year=2030,
    )


def load_reference_workflow(engine: Engine, key_dir: Path) -> Cast:
    cast = load_people(engine, key_dir)
    load_project_to_registration(engine, cast)
    load_first_period(engine, cast)
    return cast
