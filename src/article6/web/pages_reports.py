"""Accounting, reports and finance screens: the emissions balance against the
trajectory, AEF workbooks and their checks, LoA and certificate PDFs, and the
recovery and delivery curves of financing agreements.
"""

from __future__ import annotations

import base64
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from article6.domain.errors import ActionRefused
from article6.domain.permissions import Role
from article6.services import accounting, documents, finance, reporting
from article6.services.finance_reports import delivery_curves_png, recovery_png
from article6.services.finance_status import agreement_report
from article6.services.report_files import write_aef
from article6.web import charts, forms, readmodels
from article6.web.context import (
    Viewer,
    engine_of,
    flash,
    form_of,
    gate,
    not_found,
    redirect,
    render,
    words_of,
)
from article6.web.i18n import format_number

router = APIRouter()
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _party_and_year(viewer: Viewer, party: str, year: int | None) -> tuple[str, int]:
    assert viewer.actor is not None
    chosen = party or viewer.actor.party or "KHM"
    return chosen.upper()[:3], year or date.today().year - 1


@router.get("/accounting", include_in_schema=False)
def accounting_page(request: Request, party: str = "", year: int | None = None) -> Response:
    viewer = gate(request, "accounting")
    if isinstance(viewer, Response):
        return viewer
    engine = engine_of(request)
    party, year = _party_and_year(viewer, party, year)
    words = words_of(request)
    _ = words.gettext
    balance = None
    refusal: ActionRefused | None = None
    chart = None
    status = None
    try:
        statement = accounting.balance_statement(engine, party, year)
        balance, status = statement.computed, statement.status
    except ActionRefused as refused:
        refusal = refused
    if balance is not None:
        in_mt = 1_000_000

        def mt(value: float) -> str:
            return format_number(round(value, 1), viewer.locale)

        chart = charts.line_chart(
            [
                charts.Series(
                    _("Inventory emissions"),
                    "#7a8594",
                    [
                        (r.year, r.emissions_t / in_mt)
                        for r in balance.years
                        if r.emissions_t is not None
                    ],
                ),
                charts.Series(
                    _("Trajectory"),
                    "#a61b1b",
                    [
                        (r.year, r.trajectory_t / in_mt)
                        for r in balance.years
                        if r.trajectory_t is not None
                    ],
                    dashed=True,
                ),
                charts.Series(
                    _("Emissions balance"),
                    "#0b4f6c",
                    [
                        (r.year, r.balance_t / in_mt)
                        for r in balance.years
                        if r.balance_t is not None
                    ],
                    width=3.0,
                ),
            ],
            _("Emissions balance of %(party)s against its trajectory", party=party),
            _("Mt CO2e"),
            mt,
        )
    return render(
        request,
        "accounting.html",
        status_code=200,
        active="accounting",
        party=party,
        year=year,
        parties=readmodels.party_names(engine),
        balance=balance,
        status=status,
        refusal=refusal,
        chart=chart,
    )


@router.get("/reports", include_in_schema=False)
def reports_page(
    request: Request, party: str = "", year: int | None = None, check: str = ""
) -> Response:
    viewer = gate(request, "reports")
    if isinstance(viewer, Response):
        return viewer
    return _reports(request, viewer, party, year, check == "1", None)


def _reports(
    request: Request,
    viewer: Viewer,
    party: str,
    year: int | None,
    run_checks: bool,
    error: ActionRefused | None,
) -> Response:
    engine = engine_of(request)
    party, year = _party_and_year(viewer, party, year)
    failures = None
    check_error = None
    if run_checks:
        try:
            failures = reporting.check_report(engine, party, year, date.today())
        except ActionRefused as refused:
            check_error = refused
    issued = [
        (p, period)
        for row in readmodels.projects(engine)
        if (p := readmodels.project(engine, row.project_id)) is not None
        for period in p.periods
        if period.state == "issued"
    ]
    return render(
        request,
        "reports.html",
        status_code=400 if error else 200,
        active="reports",
        party=party,
        year=year,
        parties=readmodels.party_names(engine),
        failures=failures,
        check_error=check_error,
        error=error,
        authorizations=readmodels.authorizations(engine),
        issued=issued,
        may_generate=viewer.has(
            Role.HOST_COORDINATOR, Role.ACQUIRING_AUTHORITY, Role.REGISTRY_ADMINISTRATOR
        ),
        may_freeze=viewer.has(Role.REGISTRY_ADMINISTRATOR),
        today=date.today().isoformat(),
    )


@router.post("/reports/freeze", include_in_schema=False)
async def freeze(request: Request) -> Response:
    viewer = gate(request, "reports")
    if isinstance(viewer, Response):
        return viewer
    form = await form_of(request)
    if isinstance(form, Response):
        return form
    assert viewer.actor is not None
    party = forms.text(form, "party", limit=3) if form.get("party") else ""
    try:
        year = forms.whole(form, "year", minimum=1990)
        await run_in_threadpool(
            reporting.freeze_holdings,
            engine_of(request),
            actor=viewer.actor,
            party=party,
            year=year,
            on=date.today(),
        )
    except ActionRefused as refused:
        return _reports(request, viewer, party, None, False, refused)
    flash(
        request,
        words_of(request).gettext(
            "Holdings of %(party)s frozen as of 31 December %(year)s.", party=party, year=year
        ),
    )
    return redirect(request, f"/reports?party={party}&year={year}")


@router.post("/reports/aef", include_in_schema=False)
async def aef(request: Request) -> Response:
    viewer = gate(request, "reports")
    if isinstance(viewer, Response):
        return viewer
    form = await form_of(request)
    if isinstance(form, Response):
        return form
    assert viewer.actor is not None
    party = str(form.get("party") or "")[:3]
    try:
        year = forms.whole(form, "year", minimum=1990)
        report, _receipt = await run_in_threadpool(
            reporting.generate_aef,
            engine_of(request),
            actor=viewer.actor,
            party=party,
            year=year,
            submitted_on=forms.day(form, "submitted_on"),
        )
    except ActionRefused as refused:
        return _reports(request, viewer, party, None, False, refused)
    name = f"AEF_{party}_{year}_v{report.version}.xlsx"
    with tempfile.TemporaryDirectory(prefix="article6-aef-") as folder:
        content = write_aef(report, Path(folder) / name)[0].read_bytes()
    return Response(
        content,
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _pdf(content: bytes, name: str) -> Response:
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/reports/loa/{authorization_id}/{version}.pdf", include_in_schema=False)
def loa_pdf(request: Request, authorization_id: str, version: int) -> Response:
    viewer = gate(request, "projects")
    if isinstance(viewer, Response):
        return viewer
    name = f"{authorization_id}_v{version}.pdf"
    with tempfile.TemporaryDirectory(prefix="article6-loa-") as folder:
        try:
            path = documents.render_loa(
                engine_of(request), authorization_id, Path(folder) / "loa.pdf", version
            )
        except ActionRefused as refused:
            return not_found(request, refused.message)
        return _pdf(path.read_bytes(), name)


@router.get("/reports/certificate/{project_id}/{period}.pdf", include_in_schema=False)
def certificate_pdf(request: Request, project_id: str, period: int) -> Response:
    viewer = gate(request, "projects")
    if isinstance(viewer, Response):
        return viewer
    with tempfile.TemporaryDirectory(prefix="article6-certificate-") as folder:
        try:
            path = documents.render_issuance_certificate(
                engine_of(request), project_id, period, Path(folder) / "certificate.pdf"
            )
        except ActionRefused as refused:
            return not_found(request, refused.message)
        return _pdf(path.read_bytes(), f"certificate_{project_id}_{period}.pdf")


def _png(content: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(content).decode("ascii")


@router.get("/finance", include_in_schema=False)
def finance_page(request: Request, agreement: str = "") -> Response:
    viewer = gate(request, "finance")
    if isinstance(viewer, Response):
        return viewer
    engine = engine_of(request)
    with engine.connect() as connection:
        agreements = finance.agreement_ids(connection)
    chosen = agreement if agreement in agreements else (agreements[0] if agreements else None)
    values: dict[str, Any] = {"report": None, "refusal": None}
    if chosen is not None:
        try:
            report = agreement_report(engine, chosen, date.today())
            values = {
                "report": report,
                "recovery_chart": _png(recovery_png(report)),
                "delivery_chart": _png(delivery_curves_png(report, None)),
                "refusal": None,
            }
        except ActionRefused as refused:
            values["refusal"] = refused
    return render(
        request,
        "finance.html",
        active="finance",
        agreements=agreements,
        chosen=chosen,
        **values,
    )
