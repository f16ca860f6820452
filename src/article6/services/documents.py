"""The Letter of Authorization and issuance certificates as PDF, from the records.

Documents are rendered from the structured data (never typed by hand) and
carry the authorization's hash, so a reader can check that the paper and the
registry describe the same authorization version. Names are printed in
English and in the Parties' own scripts, with Khmer and Hangul fonts from the
operating system's font packages.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from sqlalchemy import Engine, select

from article6.domain import codec
from article6.domain.errors import ActionRefused, RejectionCode
from article6.domain.identifiers import itmo_id
from article6.domain.journal import canonical
from article6.domain.model import AuthorizationVersion
from article6.store import tables as t
from article6.store import workflow_tables as w

FONT_DIRS = (Path("/usr/share/fonts/truetype"), Path("/usr/local/share/fonts"))
FONTS = {"Latin": "NanumGothic.ttf", "Hangul": "NanumGothic.ttf", "Khmer": "KhmerOS.ttf"}
FONT_PACKAGES = "fonts-nanum and fonts-khmeros"
NATIVE_NAMES = {"KHM": ("Khmer", "ព្រះរាជាណាចក្រកម្ពុជា"), "KOR": ("Hangul", "대한민국")}


def authorization_hash(version: AuthorizationVersion) -> str:
    """SHA-256 of the version's canonical encoding: the same bytes the journal holds."""
    return hashlib.sha256(canonical(codec.authorization_to_dict(version))).hexdigest()


def _register_fonts() -> None:
    for name, file_name in FONTS.items():
        if name in pdfmetrics.getRegisteredFontNames():
            continue
        found = next((p for d in FONT_DIRS if d.exists() for p in d.rglob(file_name)), None)
        if found is None:
            raise ActionRefused(
                RejectionCode.UNKNOWN_ENTITY, f"font {file_name} not found: install {FONT_PACKAGES}"
            )
        pdfmetrics.registerFont(TTFont(name, str(found)))


@dataclass
class _Page:
    """A simple top-down writer over a reportlab canvas."""

    canvas: Canvas
    y: float = A4[1] - 60

    def line(self, text: str, size: int = 10, font: str = "Latin", indent: float = 50) -> None:
        if self.y < 60:
            self.canvas.showPage()
            self.y = A4[1] - 60
        self.canvas.setFont(font, size)
        self.canvas.drawString(indent, self.y, text)
        self.y -= size + 6

    def field(self, label: str, value: str) -> None:
        self.line(f"{label}: {value}")

    def party(self, label: str, code: str, name: str) -> None:
        self.line(f"{label}: {name} ({code})")
        if code in NATIVE_NAMES:
            font, native = NATIVE_NAMES[code]
            self.line(native, font=font, indent=70)


def load_authorization(
    engine: Engine, authorization_id: str, version: int | None
) -> AuthorizationVersion:
    query = select(t.authorizations.c.data).where(
        t.authorizations.c.authorization_id == authorization_id
    )
    with engine.connect() as connection:
        rows = [
            json.loads(r.data)
            for r in connection.execute(query.order_by(t.authorizations.c.version))
        ]
    chosen = [r for r in rows if version is None or r["version"] == version]
    if not chosen:
        raise ActionRefused(
            RejectionCode.UNKNOWN_AUTHORIZATION,
            f"authorization {authorization_id} version {version or 'latest'} not found",
        )
    return codec.authorization_from_dict(chosen[-1])


def _names(engine: Engine) -> tuple[dict[str, str], dict[str, tuple[str, str, str]]]:
    with engine.connect() as connection:
        parties = {r.code: r.name for r in connection.execute(select(t.parties))}
        entities = {
            r.entity_id: (r.name, r.country, r.identification_number)
            for r in connection.execute(select(t.entities))
        }
    return parties, entities


def render_loa(
    engine: Engine, authorization_id: str, out: Path, version: int | None = None
) -> Path:
    """The LoA (or an amendment) as PDF: parties, approach, quantities, purposes, terms, hash."""
    _register_fonts()
    authorization = load_authorization(engine, authorization_id, version)
    parties, entities = _names(engine)
    with engine.connect() as connection:
        approach = connection.execute(
            select(t.approaches.c.data).where(
                t.approaches.c.approach_id == authorization.approach_id
            )
        ).scalar_one()
        project = connection.execute(
            select(w.projects.c.project_id, w.projects.c.data).where(
                w.projects.c.authorization_id == authorization_id
            )
        ).first()
    approach_name = json.loads(approach)["name"]
    out.parent.mkdir(parents=True, exist_ok=True)
    page = _Page(Canvas(str(out), pagesize=A4))
    title = "Revocation of Authorization" if authorization.revoked else "Letter of Authorization"
    page.line(f"{title} under Article 6, paragraph 2, of the Paris Agreement", size=14)
    page.field(
        "Authorization ID", f"{authorization.authorization_id}, version {authorization.version}"
    )
    page.field("Date of authorization", authorization.authorization_date.strftime("%d/%m/%Y"))
    page.field("In force from", authorization.effective_from.strftime("%d/%m/%Y"))
    page.party(
        "Authorizing Party",
        authorization.authorizing_party,
        parties.get(authorization.authorizing_party, ""),
    )
    for party in authorization.acquiring_parties:
        page.party("Authorized acquiring Party", party, parties.get(party, ""))
    page.field("Cooperative approach", f"{authorization.approach_id} {approach_name}")
    if project is not None:
        page.field("Project", f"{project.project_id}: {json.loads(project.data)['title']}")
    page.field(
        "Authorized quantity",
        f"{authorization.quantity_cap_t:,} t CO2e ({authorization.metric.value}, "
        f"{authorization.gwp})",
    )
    for purpose, cap in sorted(authorization.purpose_caps_t.items()):
        page.field(f"Purpose {purpose.value}", f"up to {cap:,} t CO2e")
    page.field(
        "Authorized timeframe",
        f"Occurred: from {authorization.vintage_from} to {authorization.vintage_to}; "
        f"Use: from {authorization.use_from} to {authorization.use_to}",
    )
    if authorization.oimp_first_transfer is not None:
        page.field("First transfer for OIMP", authorization.oimp_first_transfer.value)
    for entity_id in authorization.entities:
        name, country, number = entities.get(entity_id, ("", "", ""))
        page.field("Authorized entity", f"{name} ({entity_id}), {country}, No. {number}")
    if authorization.terms:
        page.field("Terms and conditions", authorization.terms)
    if authorization.reason:
        page.field("Reason", authorization.reason)
    page.line("")
    page.field("Authorization hash (SHA-256)", authorization_hash(authorization))
    page.line(
        "Check this hash against the registry's record of this authorization version.", size=8
    )
    page.canvas.save()
    return out


def render_issuance_certificate(engine: Engine, project_id: str, period: int, out: Path) -> Path:
    """Certificate of the units issued for a verified monitoring period and their allocation."""
    _register_fonts()
    with engine.connect() as connection:
        project = connection.execute(
            select(w.projects).where(w.projects.c.project_id == project_id)
        ).first()
        row = connection.execute(
            select(w.monitoring_periods).where(
                w.monitoring_periods.c.project_id == project_id,
                w.monitoring_periods.c.period == period,
            )
        ).first()
        if project is None or row is None or row.state != "issued":
            raise ActionRefused(
                RejectionCode.INVALID_TRANSITION,
                f"period {period} of {project_id} has not been issued",
            )
        data = json.loads(row.data)
        vintages = [int(v) for v in data["allocation"]]
        issuances = connection.execute(
            select(t.issuances)
            .where(
                t.issuances.c.approach_id == project.approach_id,
                t.issuances.c.vintage.in_(vintages),
            )
            .order_by(t.issuances.c.issuance_id)
        ).all()
    authorization = load_authorization(engine, str(project.authorization_id), None)
    parties, _ = _names(engine)
    proposal = json.loads(project.data)
    out.parent.mkdir(parents=True, exist_ok=True)
    page = _Page(Canvas(str(out), pagesize=A4))
    page.line("Issuance certificate", size=14)
    page.field("Project", f"{project_id}: {proposal['title']}")
    page.field("Cooperative approach", project.approach_id)
    page.party("Host Party", proposal["host_party"], parties.get(proposal["host_party"], ""))
    page.party(
        "Acquiring Party", proposal["acquiring_party"], parties.get(proposal["acquiring_party"], "")
    )
    page.field("Monitoring period", f"{period}: {data['start']} to {data['end']}")
    page.field("Verified by", f"{data.get('verified_by', '')}: {data.get('opinion', '')}")
    page.field("Authorization", f"{authorization.authorization_id} version {authorization.version}")
    page.field("Authorization hash (SHA-256)", authorization_hash(authorization))
    for vintage, parts in sorted(data["allocation"].items()):
        page.field(f"Vintage {vintage} verified", f"{data['verified_t'][vintage]:,} t CO2e")
        for recipient, quantity in parts.items():
            if quantity:
                page.line(f"{recipient.replace('_', ' ')}: {quantity:,} t", indent=70)
    for issuance in issuances:
        first = itmo_id(
            issuance.approach_id,
            issuance.registry_id,
            proposal["host_party"],
            issuance.first_serial,
            issuance.vintage,
        )
        last = itmo_id(
            issuance.approach_id,
            issuance.registry_id,
            proposal["host_party"],
            issuance.last_serial,
            issuance.vintage,
        )
        kind = "authorized" if issuance.authorization_id else "not authorized (host)"
        page.field("Serial block", f"{first} to {last} ({issuance.quantity_t:,} t, {kind})")
    page.canvas.save()
    return out
