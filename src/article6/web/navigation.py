"""Which screens each role sees: one table read by the menu and by the routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import HTTPException

from article6.domain.permissions import Role

if TYPE_CHECKING:
    from article6.web.context import Viewer
    from article6.web.i18n import Gettext

R = Role
SIGNED_IN = frozenset(Role)
SCREENS: dict[str, frozenset[Role]] = {
    "dashboard": SIGNED_IN,
    "projects": SIGNED_IN,
    "registry": frozenset(
        {
            R.REGISTRY_ADMINISTRATOR,
            R.ACQUIRING_AUTHORITY,
            R.HOST_COORDINATOR,
            R.HOST_CHAIR,
            R.PROJECT_DEVELOPER,
            R.FINANCIER,
            R.SYSTEM_ADMINISTRATOR,
        }
    ),
    "accounting": frozenset(
        {R.HOST_COORDINATOR, R.HOST_CHAIR, R.ACQUIRING_AUTHORITY, R.REGISTRY_ADMINISTRATOR}
    ),
    "reports": frozenset(
        {
            R.HOST_COORDINATOR,
            R.HOST_CHAIR,
            R.ACQUIRING_AUTHORITY,
            R.REGISTRY_ADMINISTRATOR,
            R.PROJECT_DEVELOPER,
            R.VERIFIER,
        }
    ),
    "finance": frozenset({R.FINANCIER, R.ACQUIRING_AUTHORITY, R.HOST_COORDINATOR}),
}


# Roles that see every account of the registries; the others see their own.
REGISTRY_WIDE = frozenset(
    {
        R.REGISTRY_ADMINISTRATOR,
        R.ACQUIRING_AUTHORITY,
        R.HOST_COORDINATOR,
        R.HOST_CHAIR,
        R.SYSTEM_ADMINISTRATOR,
    }
)


@dataclass(frozen=True)
class NavItem:
    key: str
    label: str
    url: str


def may_see(viewer: Viewer, screen: str) -> bool:
    return bool(viewer.roles & SCREENS[screen])


def require_screen(viewer: Viewer, screen: str) -> None:
    """403 unless one of the viewer's roles may open `screen`."""
    if not may_see(viewer, screen):
        raise HTTPException(status_code=403, detail=f"no access to {screen}")


def navigation(viewer: Viewer, words: Gettext) -> list[NavItem]:
    _ = words.gettext
    items = [
        NavItem("dashboard", _("Dashboard"), "/dashboard"),
        NavItem("projects", _("Projects"), "/projects"),
        NavItem("registry", _("Registry"), "/registry"),
        NavItem("accounting", _("Accounting"), "/accounting"),
        NavItem("reports", _("Reports"), "/reports"),
        NavItem("finance", _("Finance"), "/finance"),
    ]
    if viewer.actor is None:
        return [NavItem("public", _("Public registry"), "/public")]
    return [item for item in items if may_see(viewer, item.key)] + [
        NavItem("public", _("Public registry"), "/public")
    ]
