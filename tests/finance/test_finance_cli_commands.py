"""The fund manager's and the registry's finance commands, as signed-in users."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine
from typer.testing import CliRunner

from article6.cli.main import app
from article6.domain.permissions import Role
from article6.services import identity, reference_case
from article6.services.finance_reference import REFERENCE_FILE
from article6.services.identity import Organisation

AGREEMENT = "KOR-ISP-2025-001"
PASSWORD = "finance-test-password"


def people(engine: Engine) -> None:
    identity.bootstrap_administrator(engine, user_id="admin", name="Admin", password=PASSWORD)
    admin = identity.load_actor(engine, "admin")
    for organisation in (
        Organisation("KOR-ISP", "Korea investment support programme", "KOR", "financier"),
        Organisation("KHM-MOE", "Ministry of Environment of Cambodia", "KHM", "ministry"),
    ):
        identity.register_organisation(engine, actor=admin, organisation=organisation)
    for user_id, organisation_id, role in (
        ("isp-manager", "KOR-ISP", Role.FINANCIER),
        ("khm-registry", "KHM-MOE", Role.REGISTRY_ADMINISTRATOR),
    ):
        identity.register_user(
            engine,
            actor=admin,
            user_id=user_id,
            organisation_id=organisation_id,
            name=user_id,
            password=PASSWORD,
            roles=frozenset({role}),
        )


def test_record_disburse_rate_deliver_amend(engine: Engine, key_dir: Path, tmp_path: Path) -> None:
    reference_case.load_setup(engine, key_dir)
    people(engine)
    url = engine.url.render_as_string(hide_password=False)

    def finance(*args: str, user: str = "isp-manager", exit_code: int = 0) -> str:
        result = CliRunner().invoke(
            app, ["finance", *args, "--user", user, "--database-url", url, "--json"]
        )
        assert result.exit_code == exit_code, result.output
        return result.output

    finance("record", "--file", str(REFERENCE_FILE), "--idempotency-key", "ref-1")
    again = json.loads(
        finance("record", "--file", str(REFERENCE_FILE), "--idempotency-key", "ref-1")
    )
    assert again["replayed"] is True
    refused = json.loads(finance("record", "--file", str(REFERENCE_FILE), exit_code=2))
    assert refused["code"] == "already_exists"
    # The registry administrator is no financier: refused, with the rule named
    refused = json.loads(
        finance(
            "disburse",
            "--agreement",
            AGREEMENT,
            "--id",
            "D1",
            "--date",
            "2025-08-01",
            "--amount",
            "2972800000",
            user="khm-registry",
            exit_code=2,
        )
    )
    assert refused["code"] == "permission_denied"
    finance(
        "disburse",
        "--agreement",
        AGREEMENT,
        "--id",
        "D1",
        "--date",
        "2025-08-01",
        "--amount",
        "2972800000",
    )
    finance("rate", "--base", "USD", "--quote", "KRW", "--date", "2026-01-02", "--rate", "1441.50")
    refused = json.loads(
        finance(
            "deliver",
            "--agreement",
            AGREEMENT,
            "--vintage",
            "2025",
            "--quantity",
            "40000",
            "--date",
            "2026-03-16",
            "--reference",
            "first transfer",
            user="khm-registry",
            exit_code=2,
        )
    )
    assert refused["code"] == "insufficient_units"  # nothing has reached KOR01-HOLDING yet
    reference_case.load_reference_flows(engine)
    finance(
        "deliver",
        "--agreement",
        AGREEMENT,
        "--vintage",
        "2025",
        "--quantity",
        "30000",
        "--date",
        "2026-03-16",
        "--reference",
        "first transfer, part",
        user="khm-registry",
    )
    caught_up = json.loads(
        finance("recover-received", "--agreement", AGREEMENT, user="khm-registry")
    )
    assert [e["quantity_t"] for e in caught_up["details"]["recorded"]] == [10_000]
    amended = tmp_path / "amended.toml"
    text = REFERENCE_FILE.read_text(encoding="utf-8")
    text = text.replace("version = 1", 'version = 2\namendment_reason = "Rate of discount revised"')
    amended.write_text(text.replace('discount_rate = "0.035"', 'discount_rate = "0.04"'))
    finance("amend", "--file", str(amended))
    status = CliRunner().invoke(
        app,
        [
            *("finance", "status", "--agreement", AGREEMENT, "--as-of", "2026-06-30"),
            *("--database-url", url, "--json"),
        ],
    )
    document = json.loads(status.output)
    assert document["versions"] == 2 and document["discount_rate"] == "0.04"
    assert document["delivered_t"] == 40_000 and document["disbursed"]["amount"] == "2972800000"
