"""Sign-in, language, dashboard and the public transparency view."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from starlette.concurrency import run_in_threadpool

from article6.api import auth
from article6.domain.errors import ActionRefused, RejectionCode
from article6.domain.permissions import Role
from article6.services import queries
from article6.web import readmodels
from article6.web.context import (
    LOCALE_COOKIE,
    engine_of,
    form_of,
    gate,
    redirect,
    render,
    viewer_of,
    words_of,
)
from article6.web.i18n import Gettext, normalise_locale
from article6.web.pages_registry import actions_for
from article6.web.pages_registry import titles as registry_titles
from article6.web.tasks import tasks_for

router = APIRouter()
STATIC_DIR = Path(__file__).parent / "static"
PARTY_ROLES = (
    Role.REGISTRY_ADMINISTRATOR,
    Role.ACQUIRING_AUTHORITY,
    Role.HOST_COORDINATOR,
    Role.HOST_CHAIR,
)
STATIC_FILES = {"app.css": "text/css", "app.js": "text/javascript"}


def _safe_next(target: object) -> str:
    """Only a path on this site (never another host) to go back to."""
    text = target if isinstance(target, str) else ""
    parts = urlsplit(text)
    if parts.scheme or parts.netloc or not text.startswith("/") or text.startswith("//"):
        return "/dashboard"
    return text


@router.get("/static/web/{name}", include_in_schema=False)
def static_file(name: str) -> Response:
    if name not in STATIC_FILES:
        return Response(status_code=404)
    return FileResponse(
        STATIC_DIR / name,
        media_type=STATIC_FILES[name],
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.get("/", include_in_schema=False)
def home(request: Request) -> Response:
    return redirect(request, "/dashboard" if viewer_of(request).actor else "/public")


@router.get("/login", include_in_schema=False)
def login_form(request: Request, next: str = "/dashboard") -> Response:
    return render(request, "login.html", next=_safe_next(next), user_id="", error=None)


@router.post("/login", include_in_schema=False)
async def login(request: Request) -> Response:
    form = await form_of(request)
    if isinstance(form, Response):
        return form
    user_id = str(form.get("user_id") or "").strip()[:64]
    password = str(form.get("password") or "")[: auth.MAX_PASSWORD_CHARS]
    try:
        # Password hashing is deliberately slow: keep it off the event loop.
        await run_in_threadpool(auth.sign_in, request, engine_of(request), user_id, password)
    except auth.LoginThrottled as throttled:
        return render(
            request,
            "login.html",
            status_code=429,
            next=_safe_next(form.get("next")),
            user_id=user_id,
            error=ActionRefused(
                RejectionCode.AUTHENTICATION_FAILED,
                words_of(request).gettext(
                    "Too many attempts. Try again in %(seconds)s seconds.",
                    seconds=throttled.retry_after_s,
                ),
            ),
        )
    except ActionRefused as refused:
        return render(
            request,
            "login.html",
            status_code=401,
            next=_safe_next(form.get("next")),
            user_id=user_id,
            error=refused,
        )
    return redirect(request, _safe_next(form.get("next")))


@router.post("/logout", include_in_schema=False)
async def logout(request: Request) -> Response:
    form = await form_of(request)
    if isinstance(form, Response):
        return form
    auth.sign_out(request)
    return redirect(request, "/login")


@router.post("/locale", include_in_schema=False)
async def choose_locale(request: Request) -> Response:
    form = await form_of(request)
    if isinstance(form, Response):
        return form
    response = redirect(request, _safe_next(form.get("next")))
    response.set_cookie(
        LOCALE_COOKIE,
        normalise_locale(str(form.get("locale") or "")),
        max_age=365 * 24 * 3600,
        samesite="lax",
    )
    return response


@router.get("/dashboard", include_in_schema=False)
def dashboard(request: Request) -> Response:
    viewer = gate(request, "dashboard")
    if isinstance(viewer, Response):
        return viewer
    assert viewer.actor is not None
    engine = engine_of(request)
    words = Gettext(viewer.locale)
    party = viewer.actor.party
    registry_ids = [r[0] for r in readmodels.registries(engine) if r[1] == party]
    if viewer.has(*PARTY_ROLES):
        accounts = [a for a in readmodels.accounts(engine) if a.registry_id in registry_ids]
    else:
        own = viewer.actor.organisation_id
        accounts = [a for a in readmodels.accounts(engine) if a.holder == own]
        registry_ids = sorted({a.registry_id for a in accounts})
    held_by_party = sum(a.held_t for a in accounts if a.kind in ("holding", "pending"))
    holdings = [h for h in queries.holdings(engine) if h.registry_id in registry_ids][
        : readmodels.PAGE_ROWS
    ]
    return render(
        request,
        "dashboard.html",
        active="dashboard",
        tasks=tasks_for(engine, viewer.actor, words),
        projects=readmodels.projects(engine),
        accounts=accounts,
        held_by_party=held_by_party,
        holdings=holdings,
        totals=readmodels.vintage_totals(engine),
        roles=sorted(r.value for r in viewer.roles),
        action_keys=actions_for(viewer),
        action_titles=registry_titles(request),
        may_propose=viewer.has(Role.PROJECT_DEVELOPER),
    )


@router.get("/public", include_in_schema=False)
def public(request: Request, identifier: str = "") -> Response:
    engine = engine_of(request)
    lookup = None
    malformed = False
    if identifier.strip():
        lookup = readmodels.lookup_serial(engine, identifier[:80])
        malformed = lookup is None
    latest: dict[str, object] = {}
    for version in readmodels.authorizations(engine):
        latest[version.authorization_id] = version
    return render(
        request,
        "public.html",
        active="public",
        approaches=readmodels.approaches(engine),
        authorizations=list(latest.values()),
        parties=readmodels.party_names(engine),
        totals=readmodels.vintage_totals(engine),
        identifier=identifier[:80],
        lookup=lookup,
        malformed=malformed,
    )
