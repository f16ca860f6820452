"""The registry screens: accounts, holdings, blocks with their identifiers and
lineage, and the first transfer, transfer, use and cancellation forms.

Each registry action takes two steps: the form is checked and shown back as a
confirmation (nothing changes), then the confirmed form runs the command once,
under an idempotency key drawn for that confirmation, so a repeated click
cannot move units twice.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from article6.domain.errors import ActionRefused, RejectionCode
from article6.domain.model import Purpose
from article6.domain.permissions import Actor, Role
from article6.services import actions, queries
from article6.services.commands import Receipt
from article6.services.verify import verify
from article6.web import forms, readmodels
from article6.web.context import (
    Viewer,
    engine_of,
    flash,
    form_of,
    gate,
    not_found,
    redirect,
    render,
    viewer_locale,
    words_of,
)
from article6.web.i18n import format_number
from article6.web.navigation import REGISTRY_WIDE
from article6.web.readmodels import AccountRow

router = APIRouter()
CANCELLATION_KINDS = ("voluntary", "omge", "other")


@dataclass(frozen=True)
class ActionKind:
    key: str
    roles: frozenset[Role]
    needs_target: bool
    needs_authorization: bool
    needs_use_year: bool
    needs_cancellation: bool


ACTION_KINDS: dict[str, ActionKind] = {
    "first-transfer": ActionKind(
        "first-transfer", frozenset({Role.REGISTRY_ADMINISTRATOR}), True, True, False, False
    ),
    "transfer": ActionKind(
        "transfer", frozenset({Role.REGISTRY_ADMINISTRATOR}), True, False, False, False
    ),
    "use": ActionKind(
        "use",
        frozenset({Role.REGISTRY_ADMINISTRATOR, Role.ACQUIRING_AUTHORITY}),
        False,
        False,
        True,
        False,
    ),
    "cancel": ActionKind(
        "cancel", frozenset({Role.REGISTRY_ADMINISTRATOR}), False, False, False, True
    ),
}


def titles(request: Request) -> dict[str, str]:
    _ = words_of(request).gettext
    return {
        "first-transfer": _("First transfer"),
        "transfer": _("Transfer"),
        "use": _("Use towards an NDC"),
        "cancel": _("Cancellation"),
    }


def visible_accounts(viewer: Viewer, accounts: list[AccountRow]) -> list[AccountRow]:
    """Government roles see every account; holders see their own."""
    if viewer.actor is None:
        return []
    if viewer.roles & REGISTRY_WIDE:
        return accounts
    return [a for a in accounts if a.holder == viewer.actor.organisation_id]


def actions_for(viewer: Viewer) -> list[str]:
    return [key for key, kind in ACTION_KINDS.items() if viewer.roles & kind.roles]


@router.get("/registry", include_in_schema=False)
def registry(request: Request, registry_id: str = "") -> Response:
    viewer = gate(request, "registry")
    if isinstance(viewer, Response):
        return viewer
    engine = engine_of(request)
    known = readmodels.registries(engine)
    chosen = registry_id if registry_id in {r[0] for r in known} else None
    accounts = visible_accounts(viewer, readmodels.accounts(engine, chosen))
    shown = {a.account_id for a in accounts}
    holdings = [
        h
        for h in queries.holdings(engine, chosen, limit=readmodels.PAGE_ROWS)
        if h.account_id in shown
    ]
    return render(
        request,
        "registry.html",
        active="registry",
        registries=known,
        chosen=chosen,
        accounts=accounts,
        holdings=holdings,
        truncated=len(holdings) >= readmodels.PAGE_ROWS,
        may_verify=bool(viewer.roles & REGISTRY_WIDE),
        action_keys=actions_for(viewer),
        titles=titles(request),
    )


@router.get("/registry/verify", include_in_schema=False)
async def verify_journal(request: Request) -> Response:
    """Replay the journal, recompute its hash chain and compare with the projections."""
    viewer = gate(request, "registry")
    if isinstance(viewer, Response):
        return viewer
    if not viewer.roles & REGISTRY_WIDE:
        return render(request, "forbidden.html", status_code=403, message=None)
    report = await run_in_threadpool(verify, engine_of(request))
    return render(request, "verify.html", active="registry", report=report)


@router.get("/registry/accounts/{account_id}", include_in_schema=False)
def account(request: Request, account_id: str) -> Response:
    viewer = gate(request, "registry")
    if isinstance(viewer, Response):
        return viewer
    engine = engine_of(request)
    found = [
        a
        for a in visible_accounts(viewer, readmodels.accounts(engine))
        if a.account_id == account_id
    ]
    if not found:
        return not_found(
            request, words_of(request).gettext("No account %(account)s.", account=account_id)
        )
    return render(
        request,
        "account.html",
        active="registry",
        account=found[0],
        blocks=readmodels.blocks_of(engine, account_id),
        action_keys=actions_for(viewer),
        titles=titles(request),
    )


@router.get("/registry/blocks/{block_id}", include_in_schema=False)
def block(request: Request, block_id: int) -> Response:
    viewer = gate(request, "registry")
    if isinstance(viewer, Response):
        return viewer
    engine = engine_of(request)
    found = readmodels.block(engine, block_id)
    visible = {a.account_id for a in visible_accounts(viewer, readmodels.accounts(engine))}
    if found is None or found.account_id not in visible:
        return not_found(request, words_of(request).gettext("No block %(block)s.", block=block_id))
    ancestors, children = readmodels.lineage(engine, block_id)
    return render(
        request,
        "block.html",
        active="registry",
        block=found,
        ancestors=ancestors,
        children=children,
    )


def _form_page(
    request: Request,
    viewer: Viewer,
    kind: ActionKind,
    values: dict[str, Any],
    error: ActionRefused | None,
) -> Response:
    engine = engine_of(request)
    assert viewer.actor is not None
    party = viewer.actor.party
    accounts = readmodels.accounts(engine)
    own = [a for a in accounts if a.party == party and a.kind in ("holding", "pending")]
    targets = [a for a in accounts if a.kind in ("holding", "pending")]
    authorizations: dict[str, str] = {}
    for version in readmodels.authorizations(engine):
        if version.authorizing_party == party:
            authorizations[version.authorization_id] = version.approach_id
    defaults = {
        "action_date": date.today().isoformat(),
        "use_year": str(date.today().year),
        "cancellation": "voluntary",
    }
    return render(
        request,
        "registry_action.html",
        status_code=400 if error else 200,
        active="registry",
        kind=kind,
        title=titles(request)[kind.key],
        values=defaults | values,
        sources=own,
        targets=targets,
        authorizations=authorizations,
        approaches=readmodels.approaches(engine),
        error=error,
        cancellation_kinds=CANCELLATION_KINDS,
    )


def _kind_for(request: Request, key: str) -> tuple[Viewer, ActionKind] | Response:
    viewer = gate(request, "registry")
    if isinstance(viewer, Response):
        return viewer
    kind = ACTION_KINDS.get(key)
    if kind is None:
        return not_found(request, key)
    if not viewer.roles & kind.roles:
        return render(request, "forbidden.html", status_code=403, message=None)
    return viewer, kind


@router.get("/registry/actions/{key}", include_in_schema=False)
def action_form(request: Request, key: str, from_account: str = "") -> Response:
    found = _kind_for(request, key)
    if isinstance(found, Response):
        return found
    viewer, kind = found
    return _form_page(request, viewer, kind, {"from_account": from_account}, None)


@dataclass(frozen=True)
class Intent:
    """A checked registry action, ready to confirm."""

    from_account: str
    to_account: str | None
    selection: actions.Selection
    action_date: date
    authorization_id: str | None
    use_year: int | None
    cancellation: str | None
    reason: str


def _intent(kind: ActionKind, form: dict[str, Any]) -> Intent:
    first_serial = forms.optional_whole(form, "first_serial", minimum=1)
    selection = actions.Selection(
        forms.text(form, "approach_id", limit=6),
        forms.whole(form, "vintage", minimum=1900),
        forms.whole(form, "quantity_t", minimum=1),
        first_serial,
    )
    cancellation = None
    if kind.needs_cancellation:
        cancellation = forms.text(form, "cancellation", limit=20)
        if cancellation not in CANCELLATION_KINDS:
            raise ActionRefused(
                RejectionCode.ACCOUNT_KIND_NOT_ALLOWED,
                f"cancellation: {cancellation!r} is not one of {', '.join(CANCELLATION_KINDS)}",
            )
    return Intent(
        from_account=forms.text(form, "from_account", limit=50),
        to_account=forms.text(form, "to_account", limit=50) if kind.needs_target else None,
        selection=selection,
        action_date=forms.day(form, "action_date"),
        authorization_id=(
            forms.text(form, "authorization_id", limit=64) if kind.needs_authorization else None
        ),
        use_year=forms.whole(form, "use_year", minimum=1900) if kind.needs_use_year else None,
        cancellation=cancellation,
        reason=forms.text(form, "reason", required=False, limit=1000),
    )


def _run(engine: Any, actor: Actor, kind: ActionKind, intent: Intent, key: str) -> Receipt:
    common: dict[str, Any] = {
        "actor": actor,
        "from_account": intent.from_account,
        "selection": intent.selection,
        "action_date": intent.action_date,
        "idempotency_key": key,
    }
    if kind.key == "first-transfer":
        return actions.first_transfer(
            engine,
            to_account=intent.to_account,
            authorization_id=intent.authorization_id,
            purpose=Purpose.NDC,
            **common,
        )
    if kind.key == "transfer":
        return actions.transfer(engine, to_account=intent.to_account, **common)
    if kind.key == "use":
        return actions.use_units(engine, purpose=Purpose.NDC, use_year=intent.use_year, **common)
    return actions.cancel_units(
        engine, kind=intent.cancellation or "voluntary", reason=intent.reason, **common
    )


@router.post("/registry/actions/{key}", include_in_schema=False)
async def action_post(request: Request, key: str) -> Response:
    found = _kind_for(request, key)
    if isinstance(found, Response):
        return found
    viewer, kind = found
    form = await form_of(request)
    if isinstance(form, Response):
        return form
    assert viewer.actor is not None
    try:
        intent = _intent(kind, form)
    except ActionRefused as refused:
        return _form_page(request, viewer, kind, form, refused)
    if form.get("confirmed") != "yes":
        return render(
            request,
            "registry_confirm.html",
            active="registry",
            kind=kind,
            title=titles(request)[kind.key],
            intent=intent,
            values=form,
            idempotency_key=f"web-{secrets.token_urlsafe(18)}",
        )
    idempotency_key = forms.text(form, "idempotency_key", limit=100)
    try:
        receipt = await run_in_threadpool(
            _run, engine_of(request), viewer.actor, kind, intent, idempotency_key
        )
    except ActionRefused as refused:
        return _form_page(request, viewer, kind, form, refused)
    flash(
        request,
        words_of(request).gettext(
            "%(action)s of %(quantity)s t recorded (journal entry %(seq)s).",
            action=titles(request)[kind.key],
            quantity=format_number(intent.selection.quantity_t, viewer_locale(request)),
            seq=receipt.seq,
        ),
    )
    return redirect(request, f"/registry/accounts/{intent.from_account}")
