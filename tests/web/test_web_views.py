"""The web screens through a TestClient: who sees what, forms, refusals, CSRF,
the public view and its serial lookup, languages, downloads."""

from __future__ import annotations

import io

import pytest
from fastapi import FastAPI
from openpyxl import load_workbook
from web_support import (
    client_for,
    csrf_token,
    page_text,
    web_app,
    web_postgres_template,
    web_template,
)

from article6.services import queries

__all__ = ["web_app", "web_postgres_template", "web_template"]  # fixtures used below

ALL_USERS = (
    "khm-chair",
    "khm-coordinator",
    "khm-reviewer",
    "khm-registry",
    "kor-motie",
    "kor-registry",
    "gggi-reviewer",
    "kotra-reviewer",
    "kea-reviewer",
    "verywords-dev",
    "verifier",
    "isp-manager",
    "observer",
)
SCREENS = {
    "/accounting?party=KOR&year=2026": {
        "khm-chair",
        "khm-coordinator",
        "khm-registry",
        "kor-motie",
        "kor-registry",
    },
    "/finance": {"kor-motie", "isp-manager", "khm-coordinator"},
    "/registry": {
        "khm-chair",
        "khm-coordinator",
        "khm-registry",
        "kor-motie",
        "kor-registry",
        "verywords-dev",
        "isp-manager",
    },
    "/reports": {
        "khm-chair",
        "khm-coordinator",
        "khm-registry",
        "kor-motie",
        "kor-registry",
        "verywords-dev",
        "verifier",
    },
    "/registry/actions/transfer": {"khm-registry", "kor-registry"},
    "/registry/actions/use": {"khm-registry", "kor-registry", "kor-motie"},
}


def held(app: FastAPI, account_id: str) -> int:
    return sum(
        h.quantity_t
        for h in queries.holdings(app.state.engine)
        if h.account_id == account_id and h.state == "held"
    )


def test_public_view_needs_no_sign_in(web_app: FastAPI) -> None:
    page = client_for(web_app).get("/public")
    text = page_text(page.text)
    assert page.status_code == 200
    assert "CA0001" in text and "Cambodia–Korea electric motorcycles" in text
    assert "KHM-LOA-2025-001" in text and "400,000" in text
    # 2025: 68,000 issued, 61,200 first transferred to Korea, 10,000 used, none cancelled
    assert "CA0001 2025 68,000 61,200 10,000 0" in text
    assert "Sign out" not in text


@pytest.mark.parametrize(
    ("identifier", "expected"),
    [
        ("CA0001-KHM01-KHM-40000-2025", ["KOR01-HOLDING", "Held", "First transferred Yes"]),
        ("ca0001-khm01-khm-60000-2025", ["KOR01-NDC-USE", "Used", "used for 2030"]),
        ("CA0001-KHM01-KHM-100-2025", ["KHM01-HOLDING", "First transferred No"]),
        ("CA0001-KHM01-KHM-99999-2025", ["No unit with the identifier"]),
        ("CA0001-KHM01-40000-2025", ["This is not an ITMO identifier"]),
    ],
)
def test_serial_lookup(web_app: FastAPI, identifier: str, expected: list[str]) -> None:
    page = client_for(web_app).get("/public", params={"identifier": identifier})
    text = page_text(page.text)
    for words in expected:
        assert words in text, words


def test_signed_in_pages_send_strangers_to_sign_in(web_app: FastAPI) -> None:
    client = client_for(web_app)
    for path in ("/dashboard", "/projects", "/registry", "/accounting", "/finance", "/reports"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_each_role_opens_its_screens_and_no_others(web_app: FastAPI) -> None:
    for user in ALL_USERS:
        client = client_for(web_app, user)
        dashboard = client.get("/dashboard")
        assert dashboard.status_code == 200 and f"({user})" in dashboard.text
        project = client.get("/projects/VW-EMOTO-KHM")
        assert project.status_code == 200
        assert "Electric motorcycles and battery swapping" in project.text
        for path, roles in SCREENS.items():
            answer = client.get(path)
            expected = 200 if user in roles else 403
            assert answer.status_code == expected, (user, path, answer.status_code)
            menu = f'href="{path.split("?")[0]}"' if path.count("/") == 1 else None
            if menu is not None:
                assert (menu in dashboard.text) == (user in roles), (user, path)


def test_dashboards_list_the_work_of_each_role(web_app: FastAPI) -> None:
    developer = page_text(client_for(web_app, "verywords-dev").get("/dashboard").text)
    assert "Submit the next monitoring period of VW-EMOTO-KHM" in developer
    registry = page_text(client_for(web_app, "kor-registry").get("/dashboard").text)
    assert "KOR01-HOLDING Holding KOR 51,200" in registry


def test_forms_without_the_session_token_are_refused(web_app: FastAPI) -> None:
    client = client_for(web_app)
    login = client.post("/login", data={"user_id": "khm-chair", "password": "x", "next": "/"})
    assert login.status_code == 403
    client = client_for(web_app, "verywords-dev")
    for token in (None, "forged"):
        data = {
            "period": "2",
            "start": "2026-01-01",
            "end": "2026-12-31",
            "reductions": "2026 = 1000",
        }
        if token is not None:
            data["csrf_token"] = token
        answer = client.post("/projects/VW-EMOTO-KHM/periods", data=data)
        assert answer.status_code == 403
        assert "The form has expired" in page_text(answer.text)
    page = client.get("/projects/VW-EMOTO-KHM")
    assert "2026. 1. 1." not in page.text and "Jan 1, 2026" not in page.text


def test_wrong_password_is_shown_on_the_form(web_app: FastAPI) -> None:
    client = client_for(web_app)
    token = csrf_token(client.get("/login").text)
    answer = client.post(
        "/login",
        data={"csrf_token": token, "user_id": "khm-chair", "password": "wrong", "next": "/"},
    )
    assert answer.status_code == 401
    assert "unknown user or wrong password" in page_text(answer.text)


def test_a_refused_command_shows_its_rule(web_app: FastAPI) -> None:
    client = client_for(web_app, "khm-chair")
    token = csrf_token(client.get("/projects/VW-EMOTO-KHM").text)
    answer = client.post(
        "/projects/VW-EMOTO-KHM/register", data={"csrf_token": token, "registry_id": "KHM01"}
    )
    text = page_text(answer.text)
    assert answer.status_code == 400
    assert "Refused" in text and "permission_denied" in text


def test_use_goes_through_a_confirmation_and_runs_once(web_app: FastAPI) -> None:
    client = client_for(web_app, "kor-motie")
    form = client.get("/registry/actions/use?from_account=KOR01-HOLDING")
    values = {
        "csrf_token": csrf_token(form.text),
        "from_account": "KOR01-HOLDING",
        "approach_id": "CA0001",
        "vintage": "2025",
        "quantity_t": "1,000",
        "use_year": "2030",
        "action_date": "2026-05-04",
    }
    confirm = client.post("/registry/actions/use", data=values)
    assert confirm.status_code == 200 and "Please check before confirming" in confirm.text
    assert held(web_app, "KOR01-HOLDING") == 51_200  # nothing moved yet
    key = confirm.text.split('name="idempotency_key" value="')[1].split('"')[0]
    confirmed = values | {"confirmed": "yes", "idempotency_key": key}
    done = client.post("/registry/actions/use", data=confirmed)
    assert done.status_code == 200 and "/registry/accounts/KOR01-HOLDING" in str(done.url)
    assert "Use towards an NDC of 1,000 t recorded" in page_text(done.text)
    assert held(web_app, "KOR01-HOLDING") == 50_200
    client.post("/registry/actions/use", data=confirmed)  # a second click
    assert held(web_app, "KOR01-HOLDING") == 50_200


def test_a_refused_registry_action_is_shown_on_its_form(web_app: FastAPI) -> None:
    client = client_for(web_app, "kor-registry")
    token = csrf_token(client.get("/registry/actions/transfer").text)
    answer = client.post(
        "/registry/actions/transfer",
        data={
            "csrf_token": token,
            "from_account": "KOR01-HOLDING",
            "to_account": "KOR01-PENDING",
            "approach_id": "CA0001",
            "vintage": "2025",
            "quantity_t": "900000",
            "action_date": "2026-05-04",
            "confirmed": "yes",
            "idempotency_key": "web-test-refusal",
        },
    )
    assert answer.status_code == 400
    assert "Refused" in page_text(answer.text)
    assert held(web_app, "KOR01-HOLDING") == 51_200


def test_a_malformed_quantity_names_the_field(web_app: FastAPI) -> None:
    client = client_for(web_app, "kor-registry")
    token = csrf_token(client.get("/registry/actions/use").text)
    answer = client.post(
        "/registry/actions/use",
        data={
            "csrf_token": token,
            "from_account": "KOR01-HOLDING",
            "approach_id": "CA0001",
            "vintage": "2025",
            "quantity_t": "ten",
            "use_year": "2030",
            "action_date": "2026-05-04",
        },
    )
    assert answer.status_code == 400 and "quantity_t: &#39;ten&#39; is not a whole number" in (
        answer.text
    )


def test_block_lineage_from_the_issued_block(web_app: FastAPI) -> None:
    client = client_for(web_app, "kor-registry")
    block = next(
        h.block_id
        for h in queries.holdings(web_app.state.engine)
        if h.account_id == "KOR01-HOLDING"
    )
    text = page_text(client.get(f"/registry/blocks/{block}").text)
    assert "CA0001-KHM01-KHM-6801-2025" in text and "CA0001-KHM01-KHM-58000-2025" in text
    assert "Issued block" in text and "6801–68000" in text and "This block 6801–58000" in text


def test_locale_switch_shows_korean_and_khmer(web_app: FastAPI) -> None:
    client = client_for(web_app, "gggi-reviewer")  # an English-speaking user
    english = page_text(client.get("/projects/VW-EMOTO-KHM").text)
    assert "Working group review" in english and "Jul 18, 2025" in english
    for locale, words, day in (
        ("ko", "실무그룹 검토", "2025. 7. 18."),
        ("km", "ការពិនិត្យរបស់ក្រុមការងារ", "18 កក្កដា 2025"),
    ):
        token = csrf_token(client.get("/dashboard").text)
        client.post(
            "/locale",
            data={"csrf_token": token, "locale": locale, "next": "/projects/VW-EMOTO-KHM"},
        )
        page = client.get("/projects/VW-EMOTO-KHM")
        assert f'<html lang="{locale}">' in page.text
        text = page_text(page.text)
        assert words in text and day in text
        assert "Working group review" not in text


def test_a_users_own_language_applies_without_the_switcher(web_app: FastAPI) -> None:
    text = page_text(client_for(web_app, "khm-chair", locale=None).get("/dashboard").text)
    assert "ផ្ទាំងគ្រប់គ្រង" in text  # Khmer: the chair's language


def test_developer_drafts_and_submits_a_project(web_app: FastAPI) -> None:
    client = client_for(web_app, "verywords-dev")
    token = csrf_token(client.get("/projects/new").text)
    created = client.post(
        "/projects/new",
        data={
            "csrf_token": token,
            "project_id": "VW-SWAP-SR",
            "approach_id": "CA0001",
            "title": "Battery swapping in Siem Reap",
            "description": "Swap stations.",
            "methodology": "AMS-III.C",
            "methodology_version": "16.0",
            "host_party": "KHM",
            "acquiring_party": "KOR",
            "host_share": "10",
            "acquirer_cap_t": "50000",
            "remainder_to": "developer",
            "ex_ante": "2026 = 5000\n2027 = 6000",
            "use_from": "2026",
            "use_to": "2030",
        },
    )
    assert created.status_code == 200 and "Draft VW-SWAP-SR saved." in created.text
    token = csrf_token(created.text)
    submitted = client.post("/projects/VW-SWAP-SR/submit", data={"csrf_token": token})
    text = page_text(submitted.text)
    assert "Project submitted for review." in text and "11,000 t (2026–2027)" in text
    coordinator = page_text(client_for(web_app, "khm-coordinator").get("/dashboard").text)
    assert "Open the working group review of VW-SWAP-SR" in coordinator


def test_monitoring_upload_with_a_wrongly_named_file_is_refused(web_app: FastAPI) -> None:
    client = client_for(web_app, "verywords-dev")
    token = csrf_token(client.get("/projects/VW-EMOTO-KHM").text)
    answer = client.post(
        "/projects/VW-EMOTO-KHM/periods",
        data={
            "csrf_token": token,
            "period": "2",
            "start": "2026-01-01",
            "end": "2026-12-31",
            "reductions": "2026 = 1000",
        },
        files={"data_files": ("fleet.csv", b"a,b\n1,2\n", "text/csv")},
    )
    assert answer.status_code == 400
    assert "name it after its record type" in page_text(answer.text)


def test_reports_freeze_generate_and_download(web_app: FastAPI) -> None:
    client = client_for(web_app, "khm-registry")
    page = client.get("/reports?party=KHM&year=2025")
    frozen = client.post(
        "/reports/freeze",
        data={"csrf_token": csrf_token(page.text), "party": "KHM", "year": "2025"},
    )
    assert "frozen as of 31 December 2025" in page_text(frozen.text)
    workbook = client.post(
        "/reports/aef",
        data={
            "csrf_token": csrf_token(frozen.text),
            "party": "KHM",
            "year": "2025",
            "submitted_on": "2026-04-01",
        },
    )
    assert workbook.status_code == 200
    assert workbook.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheets = load_workbook(io.BytesIO(workbook.content)).sheetnames
    assert len(sheets) == 5
    checks = page_text(client.get("/reports?party=KHM&year=2025&check=1").text)
    assert "Every consistency check passed." in checks or "failed" in checks
    assert "holdings.frozen" not in checks


def test_generating_an_aef_before_freezing_is_refused(web_app: FastAPI) -> None:
    client = client_for(web_app, "kor-registry")
    page = client.get("/reports?party=KOR&year=2025")
    answer = client.post(
        "/reports/aef",
        data={
            "csrf_token": csrf_token(page.text),
            "party": "KOR",
            "year": "2025",
            "submitted_on": "2026-04-01",
        },
    )
    assert answer.status_code == 400
    assert "freeze the holdings of KOR" in page_text(answer.text)


def test_loa_and_certificate_download_as_pdf(web_app: FastAPI) -> None:
    client = client_for(web_app, "verywords-dev")
    for path in ("/reports/loa/KHM-LOA-2025-001/1.pdf", "/reports/certificate/VW-EMOTO-KHM/1.pdf"):
        answer = client.get(path)
        assert answer.status_code == 200 and answer.content.startswith(b"%PDF")
    assert client.get("/reports/loa/KHM-LOA-2025-001/7.pdf").status_code == 404


def test_accounting_draws_the_balance_against_the_trajectory(web_app: FastAPI) -> None:
    page = client_for(web_app, "kor-registry").get("/accounting?party=KOR&year=2026")
    assert page.status_code == 200
    chart = page.text.split('id="balance-chart">')[1].split("</svg>")[0]
    assert "<svg" in chart and chart.count("<polyline") == 3
    text = page_text(page.text)
    assert "2030 — 0 10,000" in text  # Korea's use of 10,000 t for 2030
    assert "2021 676,600,000 0 0 676,600,000 654,850,000" in text


def test_finance_shows_recovery_and_delivery_curves(web_app: FastAPI) -> None:
    page = client_for(web_app, "isp-manager").get("/finance")
    assert page.status_code == 200
    assert page.text.count('src="data:image/png;base64,') == 2
    assert "KOR-ISP-2025-001" in page.text
    assert "Not yet due" in page_text(page.text)


def test_the_chair_amends_the_loa_into_a_new_version(web_app: FastAPI) -> None:
    client = client_for(web_app, "khm-chair")
    page = client.get("/projects/VW-EMOTO-KHM")
    assert "Amend or revoke" in page.text
    amended = client.post(
        "/projects/VW-EMOTO-KHM/loa/amend",
        data={
            "csrf_token": csrf_token(page.text),
            "effective_from": "2026-06-01",
            "quantity_cap_t": "450,000",
            "use_to": "",
            "terms": "",
            "reason": "Second tranche agreed by the working group.",
        },
    )
    text = page_text(amended.text)
    assert "The Letter of Authorization was amended." in text
    assert "2 Jun 1, 2026 450,000 2025–2035 In force" in text
    assert "1 Jul 18, 2025 400,000 2025–2035 In force" in text
    # Only the chair signs: the secretariat's attempt is refused and changes nothing.
    coordinator = client_for(web_app, "khm-coordinator")
    page = coordinator.get("/projects/VW-EMOTO-KHM")
    assert "Amend or revoke" not in page.text
    refused = coordinator.post(
        "/projects/VW-EMOTO-KHM/loa/amend",
        data={
            "csrf_token": csrf_token(page.text),
            "effective_from": "2026-07-01",
            "quantity_cap_t": "500000",
            "reason": "no",
        },
    )
    assert refused.status_code == 400 and "permission_denied" in refused.text
    assert "500,000" not in page_text(coordinator.get("/projects/VW-EMOTO-KHM").text)


def test_every_message_has_a_korean_and_a_khmer_translation() -> None:
    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    from article6.web.i18n import LOCALE_DIR

    web = LOCALE_DIR.parent
    found = extract_from_dir(
        str(web),
        method_map=[("**.py", "python"), ("templates/**.html", "jinja2")],
        options_map={"templates/**.html": {"extensions": "jinja2.ext.i18n"}},
    )
    expected = {message for _file, _line, message, _comments, _context in found}
    assert len(expected) > 300
    for locale in ("ko", "km"):
        catalog = read_po((LOCALE_DIR / f"{locale}/LC_MESSAGES/messages.po").open("rb"))
        translated = {
            m.id for m in catalog if m.id and (m.string[0] if isinstance(m.id, tuple) else m.string)
        }
        missing = sorted(str(m) for m in expected - translated)
        assert not missing, (locale, missing[:5])


def test_monitoring_data_that_cannot_be_read_is_refused_with_its_reason(
    web_app: FastAPI,
) -> None:
    client = client_for(web_app, "verywords-dev")
    token = csrf_token(client.get("/projects/VW-EMOTO-KHM").text)
    answer = client.post(
        "/projects/VW-EMOTO-KHM/periods",
        data={
            "csrf_token": token,
            "period": "2",
            "start": "2026-01-01",
            "end": "2026-12-31",
            "reductions": "2026 = 1000",
        },
        files={"data_files": ("vehicles.csv", b"vehicle_id\nV1\n", "text/csv")},
    )
    text = page_text(answer.text)
    assert answer.status_code == 400
    assert "The monitoring data was not accepted" in text and "vehicles.csv" in text
    assert "No monitoring period yet." not in text and "2026 = 1000" not in text
    periods = text.split("Monitoring periods")[1]
    assert "Jan 1, 2026" not in periods


def test_pages_forbid_framing_and_outside_resources(web_app: FastAPI) -> None:
    page = client_for(web_app).get("/public")
    assert page.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_holders_see_only_their_own_accounts(web_app: FastAPI) -> None:
    client = client_for(web_app, "verywords-dev")
    text = page_text(client.get("/registry").text)
    assert "KHM01-VERYWORDS" in text and "KOR01-HOLDING" not in text
    assert client.get("/registry/accounts/KOR01-HOLDING").status_code == 404
    government = page_text(client_for(web_app, "khm-coordinator").get("/registry").text)
    assert "KOR01-HOLDING" in government and "KHM01-VERYWORDS" in government


def test_cambodia_cancels_units_voluntarily_after_confirming(web_app: FastAPI) -> None:
    client = client_for(web_app, "khm-registry")
    form = client.get("/registry/actions/cancel?from_account=KHM01-HOLDING")
    assert 'value="KHM01-HOLDING" selected' in form.text
    values = {
        "csrf_token": csrf_token(form.text),
        "from_account": "KHM01-HOLDING",
        "approach_id": "CA0001",
        "vintage": "2025",
        "quantity_t": "100",
        "cancellation": "voluntary",
        "reason": "Cancelled on behalf of a city programme.",
        "action_date": "2026-05-04",
    }
    confirm = client.post("/registry/actions/cancel", data=values)
    assert "Kind of cancellation Voluntary cancellation" in page_text(confirm.text)
    key = confirm.text.split('name="idempotency_key" value="')[1].split('"')[0]
    done = client.post(
        "/registry/actions/cancel", data=values | {"confirmed": "yes", "idempotency_key": key}
    )
    assert "Cancellation of 100 t recorded" in page_text(done.text)
    assert held(web_app, "KHM01-HOLDING") == 6_700
    cancelled = page_text(client.get("/registry/accounts/KHM01-VOL-CANCEL").text)
    assert "CA0001-KHM01-KHM-6701-2025 CA0001-KHM01-KHM-6800-2025 100 Cancelled" in cancelled


def test_registry_administrators_verify_the_journal(web_app: FastAPI) -> None:
    client = client_for(web_app, "khm-registry")
    assert 'href="/registry/verify"' in client.get("/registry").text
    text = page_text(client.get("/registry/verify").text)
    assert "The journal is intact:" in text
    assert client_for(web_app, "verywords-dev").get("/registry/verify").status_code == 403
