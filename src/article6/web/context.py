"""What every screen needs: the database, the signed session, CSRF and rendering.

The session is a signed cookie holding the user id, a CSRF token, the chosen
language and one flash message; it carries no roles (they are read from the
database on each request, so a change of roles takes effect at once). The
signing key comes from `ARTICLE6_SECRET_KEY`, or from `app.state.secret_key`;
without either a random key is drawn at start-up, so sessions end on restart.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import Engine

from article6.domain.errors import ActionRefused
from article6.domain.permissions import Actor, Role
from article6.services import identity
from article6.web import i18n, labels

SESSION_COOKIE = "article6_web"
LOCALE_COOKIE = "article6_locale"
SESSION_MAX_AGE_S = 8 * 3600  # one working day
CSRF_FIELD = "csrf_token"
_FALLBACK_SECRET = secrets.token_urlsafe(32)

environment = Environment(
    loader=PackageLoader("article6.web", "templates"),
    autoescape=select_autoescape(["html"]),
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.newstyle_gettext = True  # type: ignore[attr-defined]


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def key_dir_of(request: Request) -> Path | None:
    key_dir: Path | None = getattr(request.app.state, "key_dir", None)
    return key_dir


def _serializer(request: Request) -> URLSafeTimedSerializer:
    secret = (
        getattr(request.app.state, "secret_key", None)
        or os.environ.get("ARTICLE6_SECRET_KEY")
        or _FALLBACK_SECRET
    )
    return URLSafeTimedSerializer(secret, salt="article6-web-session")


@dataclass
class Session:
    """The signed cookie's content for one request; written back if changed."""

    user_id: str | None = None
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    flash: str | None = None
    changed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"user": self.user_id, "csrf": self.csrf, "flash": self.flash}


def load_session(request: Request) -> Session:
    """The session of the request (cached on it), or a new anonymous one."""
    cached: Session | None = getattr(request.state, "web_session", None)
    if cached is not None:
        return cached
    session = Session(changed=True)
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        try:
            data = _serializer(request).loads(raw, max_age=SESSION_MAX_AGE_S)
            session = Session(user_id=data.get("user"), csrf=data["csrf"], flash=data.get("flash"))
        except (BadSignature, KeyError, TypeError):
            session = Session(changed=True)
    request.state.web_session = session
    return session


def save_session(request: Request, response: Response) -> Response:
    session = load_session(request)
    if session.changed:
        response.set_cookie(
            SESSION_COOKIE,
            _serializer(request).dumps(session.to_dict()),
            max_age=SESSION_MAX_AGE_S,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
    return response


def flash(request: Request, message: str) -> None:
    session = load_session(request)
    session.flash = message
    session.changed = True


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
    from sqlalchemy import select

    from article6.store import workflow_tables as w

    with engine.connect() as connection:
        row = connection.execute(
            select(w.users.c.name, w.organisations.c.name, w.users.c.locale)
            .join(w.organisations, w.organisations.c.organisation_id == w.users.c.organisation_id)
            .where(w.users.c.user_id == user_id, w.users.c.active.is_(True))
        ).first()
    return None if row is None else (row[0], row[1], row[2])


def viewer_of(request: Request) -> Viewer:
    """The signed-in user, if any; the language from the switcher, the user, or the browser."""
    cached: Viewer | None = getattr(request.state, "web_viewer", None)
    if cached is not None:
        return cached
    session = load_session(request)
    chosen = request.cookies.get(LOCALE_COOKIE)
    viewer = Viewer(None, "", "", "")
    if session.user_id:
        row = _user_row(engine_of(request), session.user_id)
        if row is not None:
            try:
                actor = identity.load_actor(engine_of(request), session.user_id)
            except ActionRefused:
                actor = None
            if actor is not None:
                viewer = Viewer(actor, row[0], row[1], row[2])
    locale = (
        i18n.normalise_locale(chosen)
        if chosen
        else viewer.locale or i18n.locale_from_header(request.headers.get("accept-language"))
    )
    viewer = Viewer(viewer.actor, viewer.name, viewer.organisation, i18n.normalise_locale(locale))
    request.state.web_viewer = viewer
    return viewer


def render(
    request: Request, template: str, status_code: int = 200, **values: Any
) -> HTMLResponse:
    """Render a page in the viewer's language, with CSRF token, navigation and flash."""
    viewer = viewer_of(request)
    session = load_session(request)
    message = session.flash
    if message is not None:
        session.flash = None
        session.changed = True
    words = i18n.Gettext(viewer.locale)
    page = environment.get_template(template)
    from article6.web.navigation import navigation

    body = page.render(
        request=request,
        viewer=viewer,
        csrf_token=session.csrf,
        csrf_field=CSRF_FIELD,
        flash_message=message,
        nav=navigation(viewer, words),
        locales=i18n.LOCALE_NAMES,
        locale=viewer.locale,
        number=lambda value: i18n.format_number(value, viewer.locale),
        day=lambda value: i18n.format_day(value, viewer.locale),
        state_label=lambda state: labels.state_label(str(state), words),
        question_label=lambda question: labels.question_label(str(question), words),
        **words.template_callables(),
        **values,
    )
    response = HTMLResponse(body, status_code=status_code)
    return save_session(request, response)  # type: ignore[return-value]


def redirect(request: Request, url: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    save_session(request, response)
    return response


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path
    return redirect(request, f"/login?next={target}")


def forbidden(request: Request, message: str | None = None) -> HTMLResponse:
    return render(request, "forbidden.html", status_code=403, message=message)


def gate(request: Request, screen: str) -> Viewer | Response:
    """The viewer if signed in and allowed on `screen`; else the login page or a 403."""
    from article6.web.navigation import may_see

    viewer = viewer_of(request)
    if viewer.actor is None:
        return login_redirect(request)
    if not may_see(viewer, screen):
        return forbidden(request)
    return viewer


async def form_of(request: Request) -> dict[str, Any] | Response:
    """The posted form after its CSRF token checks out; else a 403 page."""
    form = await request.form()
    token = form.get(CSRF_FIELD)
    session = load_session(request)
    if not isinstance(token, str) or not secrets.compare_digest(token, session.csrf):
        return render(
            request,
            "forbidden.html",
            status_code=403,
            message=i18n.Gettext(viewer_of(request).locale).gettext(
                "The form has expired or did not come from this site. Reload the page and try "
                "again."
            ),
        )
    return {key: form.getlist(key) if len(form.getlist(key)) > 1 else form.get(key) for key in form}
