"""What every screen needs: the database, the session, CSRF and rendering.

The session is the application's signed session cookie, shared with the REST
API: it holds the user id (written by `api.auth.sign_in`) and, for the
screens, a CSRF token and one flash message. Roles are never stored in it: the
actor is reloaded on each request, so a change of roles takes effect at once.
The language comes from the switcher's cookie, else the user's own setting,
else the browser's Accept-Language.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import Engine, select

from article6.api import auth
from article6.domain.permissions import Actor, Role
from article6.store import workflow_tables as w
from article6.web import i18n, labels

LOCALE_COOKIE = "article6_locale"
CSRF_FIELD = "csrf_token"
CSRF_KEY = "web_csrf"
FLASH_KEY = "web_flash"
# Pages load nothing from elsewhere: scripts, styles and images come from this site
# (charts are inline SVG or data: images); no other site may frame them.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

environment = Environment(
    loader=PackageLoader("article6.web", "templates"),
    autoescape=select_autoescape(["html"]),
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
)


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def key_dir_of(request: Request) -> Path:
    key_dir: Path = request.app.state.key_dir
    return key_dir


class Session:
    """The screens' keys in the shared session: the CSRF token and one flash message."""

    def __init__(self, store: dict[str, Any]) -> None:
        self._store = store

    @property
    def csrf(self) -> str:
        token = self._store.get(CSRF_KEY)
        if not isinstance(token, str):
            token = secrets.token_urlsafe(24)
            self._store[CSRF_KEY] = token
        return token

    def pop_flash(self) -> str | None:
        value = self._store.pop(FLASH_KEY, None)
        return value if isinstance(value, str) else None

    def set_flash(self, message: str) -> None:
        self._store[FLASH_KEY] = message


def load_session(request: Request) -> Session:
    return Session(request.session)


def flash(request: Request, message: str) -> None:
    load_session(request).set_flash(message)


@dataclass(frozen=True)
class Viewer:
    """Who is looking: the actor (None for the public), display name and language."""

    actor: Actor | None
    name: str
    organisation: str
    locale: str

    @property
    def roles(self) -> frozenset[Role]:
        return self.actor.roles if self.actor is not None else frozenset()

    def has(self, *roles: Role) -> bool:
        return any(role in self.roles for role in roles)


def _user_row(engine: Engine, user_id: str) -> tuple[str, str, str] | None:
    with engine.connect() as connection:
        row = connection.execute(
            select(w.users.c.name, w.organisations.c.name, w.users.c.locale)
            .join(w.organisations, w.organisations.c.organisation_id == w.users.c.organisation_id)
            .where(w.users.c.user_id == user_id)
        ).first()
    return None if row is None else (str(row[0]), str(row[1]), str(row[2]))


def viewer_of(request: Request) -> Viewer:
    """The signed-in user, if any, and the language to show."""
    cached: Viewer | None = getattr(request.state, "web_viewer", None)
    if cached is not None:
        return cached
    engine = engine_of(request)
    actor = auth.resolve_actor(request, engine)
    name = organisation = own_locale = ""
    if actor is not None:
        row = _user_row(engine, actor.user_id)
        if row is not None:
            name, organisation, own_locale = row
    chosen = request.cookies.get(LOCALE_COOKIE)
    if chosen:
        locale = i18n.normalise_locale(chosen)
    elif own_locale:
        locale = i18n.normalise_locale(own_locale)
    else:
        locale = i18n.locale_from_header(request.headers.get("accept-language"))
    viewer = Viewer(actor, name, organisation, locale)
    request.state.web_viewer = viewer
    return viewer


def render(request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    """Render a page in the viewer's language, with CSRF token, navigation and flash."""
    from article6.web.navigation import navigation

    viewer = viewer_of(request)
    session = load_session(request)
    words = i18n.Gettext(viewer.locale)
    body = environment.get_template(template).render(
        request=request,
        viewer=viewer,
        csrf_token=session.csrf,
        csrf_field=CSRF_FIELD,
        flash_message=session.pop_flash(),
        nav=navigation(viewer, words),
        locales=i18n.LOCALE_NAMES,
        locale=viewer.locale,
        number=lambda value: i18n.format_number(value, viewer.locale),
        day=lambda value: i18n.format_day(value, viewer.locale),
        state_label=lambda state: labels.state_label(str(state), words),
        question_label=lambda question: labels.question_label(str(question), words),
        role_label=lambda role: labels.role_label(str(role), words),
        delivery_label=lambda state: labels.delivery_label(str(state), words),
        **words.template_callables(),
        **values,
    )
    return HTMLResponse(body, status_code=status_code, headers=PAGE_HEADERS)


def redirect(request: Request, url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def login_redirect(request: Request) -> RedirectResponse:
    """To the sign-in page, coming back here afterwards (to the dashboard after a form)."""
    target = request.url.path if request.method == "GET" else "/dashboard"
    return redirect(request, f"/login?next={target}")


def forbidden(request: Request, message: str | None = None) -> HTMLResponse:
    return render(request, "forbidden.html", status_code=403, message=message)


def not_found(request: Request, message: str) -> HTMLResponse:
    return render(request, "not_found.html", status_code=404, message=message)


def gate(request: Request, screen: str) -> Viewer | Response:
    """The viewer if signed in and allowed on `screen`; else the login page or a 403."""
    from article6.web.navigation import may_see

    viewer = viewer_of(request)
    if viewer.actor is None:
        return login_redirect(request)
    if not may_see(viewer, screen):
        return forbidden(request)
    return viewer


def viewer_locale(request: Request) -> str:
    return viewer_of(request).locale


def words_of(request: Request) -> i18n.Gettext:
    return i18n.Gettext(viewer_of(request).locale)


async def form_of(request: Request) -> dict[str, Any] | Response:
    """The posted form once its CSRF token matches the session's; else a 403 page."""
    form = await request.form()
    token = form.get(CSRF_FIELD)
    session = load_session(request)
    if not isinstance(token, str) or not secrets.compare_digest(token, session.csrf):
        return forbidden(
            request,
            words_of(request).gettext(
                "The form has expired or did not come from this site. Reload the page and "
                "try again."
            ),
        )
    fields: dict[str, Any] = {}
    for key in form:
        values = form.getlist(key)
        fields[key] = values if len(values) > 1 else values[0]
    return fields
