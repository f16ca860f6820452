"""The agreed electronic format (AEF) of the annual information: tables 1 to 5.

A Party reports every Article 6 action of a year, whatever the vintage, by
15 April of the next year. Each table is a list of rows keyed by the exact
column labels of the format; cells are text or whole numbers as submitted:
dates `dd/mm/yyyy`, `NA` in a conditional column that does not apply, and an
empty string in the columns the UNFCCC platform fills itself.

The rows are rendered from journal actions (`aef_sources`) and from the
recorded authorizations and entities, never from configuration defaults.
The consistency checks (`aef_checks`) read these same rendered rows, as the
platform would.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from article6.domain.aef_sources import Action
from article6.domain.identifiers import itmo_id
from article6.domain.model import AuthorizationVersion, Block, Entity, Metric, Purpose

Cell = str | int
Row = dict[str, Cell]
NA = "NA"

SHEETS = {
    "table1": "Table 1 Submission",
    "table2": "Table 2 Authorizations",
    "table3": "Table 3 Actions",
    "table4": "Table 4 Holdings",
    "table5": "Table 5 Auth. entities",
}

TABLE1 = (
    "Party",
    "Version",
    "Reported year",
    "Date of submission",
    "Review status of the initial report",
    "Result of the consistency check",
    "First year of the NDC implementation period",
    "Last year of the NDC implementation period",
    "Reference to the review report",
)
TABLE2 = (
    "Authorization ID",
    "Date of authorization",
    "Cooperative approach ID",
    "Version of the authorization",
    "Authorized quantity",
    "Metric",
    "Applicable GWP value(s)",
    "Applicable non-GHG metric",
    "Sector(s)",
    "Activity type(s)",
    "Purposes for authorization",
    "Authorized Party(ies) ID",
    "Authorized entity(ies) ID",
    "OIMP authorized by the Party",
    "Authorized timeframe",
    "Authorization terms and conditions",
    "Authorization documentation",
    "First transfer definition for OIMP",
    "Additional explanatory information",
)
BLOCK_COLUMNS = (
    "Cooperative approach ID",
    "Authorization ID",
    "First transferring participating Party ID",
    "Party ITMO registry ID",
    "First ID",
    "Last ID",
    "Underlying unit registry ID",
    "First unit ID",
    "Last unit ID",
    "Metric",
    "Applicable GWP value(s)",
    "Applicable non-GHG metric",
    "Quantity (t CO2 eq)",
    "Quantity (in non-GHG metric)",
    "Mitigation type",
    "Vintage",
)
TABLE3 = (
    "Action date",
    "Action type",
    "Action subtype",
    *BLOCK_COLUMNS,
    "Transferring participating Party ID",
    "Acquiring participating Party ID",
    "Purpose for which the ITMO has been used towards or cancelled for OIMP",
    "Using/cancelling participating Party ID",
    "Using/cancelling authorized entity ID",
    "Calendar year for which the ITMOs are used towards the Party's NDC",
    "Result of the consistency checks",
    "Additional explanatory information",
)
TABLE4 = (*BLOCK_COLUMNS, "Additional explanatory information")
TABLE5 = (
    "Date of the authorization",
    "Name",
    "Country of incorporation",
    "Identification number",
    "Cooperative approach ID",
    "Conditions",
    "Change and revocation conditions",
    "Additional explanatory information",
)
LABELS = {"table1": TABLE1, "table2": TABLE2, "table3": TABLE3, "table4": TABLE4, "table5": TABLE5}

# Columns the UNFCCC platform fills; a Party leaves them blank.
PLATFORM_COLUMNS = {
    "table1": (
        "Review status of the initial report",
        "Result of the consistency check",
        "Reference to the review report",
    ),
    "table2": ("Authorization documentation",),
    "table3": ("Result of the consistency checks",),
    "table4": (),
    "table5": (),
}

ACTION_SUBTYPES: dict[str, frozenset[str]] = {
    "Authorization": frozenset({"Issuance"}),
    "First transfer": frozenset(
        {"First transfer to another Party", "Authorization", "Issuance", "Use or cancellation"}
    ),
    "Transfer": frozenset({NA}),
    "Acquisition": frozenset({NA}),
    "Use": frozenset({"Use towards NDC", "Use for OIMP"}),
    "Cancellation": frozenset({"Voluntary cancellation to deliver OMGE", "Other cancellations"}),
    "Voluntary Cancellation": frozenset({NA}),
}
TERMINAL_TYPES = frozenset({"Use", "Cancellation", "Voluntary Cancellation"})
PURPOSE_TEXTS = frozenset({"NDC", "OIMP", "IMP", "OP", "NDC and OIMP", "NDC and IMP", "NDC and OP"})
METRICS = frozenset({m.value for m in Metric})
MITIGATION_TYPES = frozenset(
    {"Emission reductions", "Removals", "Emission reductions and removals"}
)
SECTORS = frozenset(
    {
        "Agriculture",
        "Building and construction",
        "Cross-sectoral mechanisms",
        "Energy generation",
        "Forestry and land use",
        "Industrial processes",
        "Transportation",
        "Urban development",
        "Waste management",
    }
)
FIRST_TRANSFER_DEFINITIONS = frozenset({"Authorization", "Issuance", "Use or cancellation"})


def aef_date(value: date) -> str:
    return value.strftime("%d/%m/%Y")


def parse_aef_date(text: Cell) -> date | None:
    """The date of a `dd/mm/yyyy` cell, or None if the cell is not one."""
    parts = str(text).split("/")
    if (
        len(parts) != 3
        or [len(p) for p in parts] != [2, 2, 4]
        or not all(p.isdigit() for p in parts)
    ):
        return None
    try:
        return date(int(parts[2]), int(parts[1]), int(parts[0]))
    except ValueError:
        return None


@dataclass(frozen=True)
class AefReport:
    """One Party's annual information for one year, as it would be submitted."""

    party: str
    reported_year: int
    version: str
    table1: list[Row]
    table2: list[Row]
    table3: list[Row]
    table4: list[Row]
    table5: list[Row]
    notes: list[str] = field(default_factory=list)

    def tables(self) -> dict[str, list[Row]]:
        return {
            "table1": self.table1,
            "table2": self.table2,
            "table3": self.table3,
            "table4": self.table4,
            "table5": self.table5,
        }

    def content(self) -> dict[str, Any]:
        """Everything but the submission date and version: what a correction changes."""
        table1 = [
            {k: v for k, v in row.items() if k not in {"Date of submission", "Version"}}
            for row in self.table1
        ]
        return {**self.tables(), "table1": table1}

    def to_dict(self) -> dict[str, Any]:
        return {
            "party": self.party,
            "reported_year": self.reported_year,
            "version": self.version,
            "sheets": {SHEETS[key]: rows for key, rows in self.tables().items()},
        }


def next_version(previous: Sequence[str]) -> str:
    """Submission versions: 1.0 first, then 1.1, 1.2 ... for each corrected resubmission."""
    if not previous:
        return "1.0"
    major, minor = max(tuple(int(p) for p in v.split(".")) for v in previous)
    return f"{major}.{minor + 1}"


def submission_row(
    party: str,
    version: str,
    year: int,
    submitted: date,
    period: tuple[int, int] | None,
) -> Row:
    return {
        "Party": party,
        "Version": version,
        "Reported year": year,
        "Date of submission": aef_date(submitted),
        "Review status of the initial report": "",
        "Result of the consistency check": "",
        "First year of the NDC implementation period": NA if period is None else period[0],
        "Last year of the NDC implementation period": NA if period is None else period[1],
        "Reference to the review report": "",
    }


def purposes_text(purposes: Iterable[Purpose]) -> str:
    values = sorted(p.value for p in purposes)
    if values == ["NDC"] or len(values) == 1:
        return values[0]
    others = [v for v in values if v != "NDC"]
    return " and ".join(["NDC", *others]) if "NDC" in values else " and ".join(values)


def timeframe_text(version: AuthorizationVersion) -> str:
    occurred = (date(version.vintage_from, 1, 1), date(version.vintage_to, 12, 31))
    use = (date(version.use_from, 1, 1), date(version.use_to, 12, 31))
    return (
        f"Occurred: from {aef_date(occurred[0])} to {aef_date(occurred[1])}; "
        f"Use: from {aef_date(use[0])} to {aef_date(use[1])}"
    )


def authorization_row(
    version: AuthorizationVersion,
    sectors: Sequence[str],
    activity_types: Sequence[str],
    entities: Mapping[str, Entity],
) -> Row:
    ghg = version.metric is Metric.GHG
    oimp = Purpose.OIMP in version.purposes
    caps = ", ".join(f"{p.value} {q} t" for p, q in sorted(version.purpose_caps_t.items()))
    info = f"Purpose caps: {caps}"
    if version.revoked:
        info += f"; revoked ({version.reason or 'no reason given'})"
    return {
        "Authorization ID": version.authorization_id,
        "Date of authorization": aef_date(version.authorization_date),
        "Cooperative approach ID": version.approach_id,
        "Version of the authorization": version.version,
        "Authorized quantity": version.quantity_cap_t,
        "Metric": version.metric.value,
        "Applicable GWP value(s)": version.gwp if ghg else NA,
        "Applicable non-GHG metric": NA if ghg else version.gwp,
        "Sector(s)": ", ".join(sectors),
        "Activity type(s)": ", ".join(activity_types),
        "Purposes for authorization": purposes_text(version.purposes),
        "Authorized Party(ies) ID": ", ".join(version.acquiring_parties) or NA,
        "Authorized entity(ies) ID": ", ".join(
            entity_identifier(entities, e) for e in version.entities
        )
        or NA,
        "OIMP authorized by the Party": (version.oimp_named or NA) if oimp else NA,
        "Authorized timeframe": timeframe_text(version),
        "Authorization terms and conditions": version.terms or NA,
        "Authorization documentation": "",
        "First transfer definition for OIMP": (
            version.oimp_first_transfer.value if oimp and version.oimp_first_transfer else NA
        ),
        "Additional explanatory information": info,
    }


def entity_identifier(entities: Mapping[str, Entity], entity_id: str | None) -> str:
    """Entities are named in the AEF by their identification number."""
    if entity_id is None:
        return NA
    entity = entities.get(entity_id)
    return entity.identification_number if entity else entity_id


def block_cells(block: Block, registry_id: str, version: AuthorizationVersion | None) -> Row:
    ghg = block.metric is Metric.GHG
    ident = (block.approach_id, block.originating_registry, block.first_transferring_party)
    underlying_first: Cell = NA if block.underlying_first is None else block.underlying_first
    underlying_last: Cell = NA if block.underlying_last is None else block.underlying_last
    return {
        "Cooperative approach ID": block.approach_id,
        "Authorization ID": block.authorization_id or NA,
        "First transferring participating Party ID": block.first_transferring_party,
        "Party ITMO registry ID": registry_id,
        "First ID": itmo_id(*ident, block.first, block.vintage),
        "Last ID": itmo_id(*ident, block.last, block.vintage),
        "Underlying unit registry ID": block.underlying_registry or NA,
        "First unit ID": underlying_first,
        "Last unit ID": underlying_last,
        "Metric": block.metric.value,
        "Applicable GWP value(s)": (version.gwp if version else NA) if ghg else NA,
        "Applicable non-GHG metric": NA if ghg else (version.gwp if version else NA),
        "Quantity (t CO2 eq)": block.quantity_t if ghg else NA,
        "Quantity (in non-GHG metric)": NA if ghg else block.quantity_t,
        "Mitigation type": block.mitigation_type.value,
        "Vintage": block.vintage,
    }


def action_row(action: Action, entities: Mapping[str, Entity]) -> Row:
    kind = action.action_type
    transfers = kind in {"First transfer", "Transfer"}
    ndc_use = kind == "Use" and action.purpose == Purpose.NDC.value
    row: Row = {
        "Action date": aef_date(action.action_date),
        "Action type": kind,
        "Action subtype": action.subtype,
        **block_cells(action.block, action.registry_id, action.authorization),
        "Transferring participating Party ID": (
            action.transferring_party or NA if kind == "Acquisition" else NA
        ),
        "Acquiring participating Party ID": (action.acquiring_party or NA) if transfers else NA,
        "Purpose for which the ITMO has been used towards or cancelled for OIMP": (
            action.purpose or NA if kind == "Use" else NA
        ),
        "Using/cancelling participating Party ID": (
            action.using_party or NA if kind in TERMINAL_TYPES else NA
        ),
        "Using/cancelling authorized entity ID": entity_identifier(entities, action.entity),
        "Calendar year for which the ITMOs are used towards the Party's NDC": (
            action.use_year if ndc_use and action.use_year is not None else NA
        ),
        "Result of the consistency checks": "",
        "Additional explanatory information": f"Journal event {action.seq}",
    }
    return row


def holding_row(registry_id: str, block: Block, version: AuthorizationVersion | None) -> Row:
    state = "first transferred" if block.first_transferred else "not yet first transferred"
    return {
        **block_cells(block, registry_id, version),
        "Additional explanatory information": f"Held in {block.account_id}; {state}",
    }


def entity_row(
    version: AuthorizationVersion, entity: Entity, later: Sequence[AuthorizationVersion]
) -> Row:
    changes = [
        f"{'revoked' if v.revoked else 'amended'} by version {v.version} "
        f"on {aef_date(v.authorization_date)}"
        for v in later
        if entity.entity_id in version.entities
    ]
    return {
        "Date of the authorization": aef_date(version.authorization_date),
        "Name": entity.name,
        "Country of incorporation": entity.country,
        "Identification number": entity.identification_number,
        "Cooperative approach ID": version.approach_id,
        "Conditions": version.terms or NA,
        "Change and revocation conditions": "; ".join(changes)
        or "Changes and revocation only by a new version of the authorization",
        "Additional explanatory information": (
            f"Registry entity {entity.entity_id} under {version.authorization_id}"
        ),
    }
