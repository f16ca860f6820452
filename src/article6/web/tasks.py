"""The work waiting for a user: what the dashboard lists first for each role."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from article6.domain.permissions import Actor, Role
from article6.web import readmodels
from article6.web.i18n import Gettext

MAX_PROJECTS = 200


@dataclass(frozen=True)
class Task:
    text: str
    url: str
    project_id: str


def tasks_for(engine: Engine, actor: Actor, words: Gettext) -> list[Task]:
    _ = words.gettext
    found: list[Task] = []
    roles = actor.roles
    for row in readmodels.projects(engine)[:MAX_PROJECTS]:
        detail = readmodels.project(engine, row.project_id)
        if detail is None:
            continue
        url = f"/projects/{detail.project_id}"
        pid = detail.project_id
        host = detail.proposal.host_party == actor.party
        own = detail.developer == actor.organisation_id

        def add(text: str, url: str = url, pid: str = pid) -> None:
            found.append(Task(text, url, pid))

        if Role.PROJECT_DEVELOPER in roles and own:
            if detail.state in ("draft", "changes_requested"):
                add(_("Submit project %(project)s for review", project=pid))
            if detail.state == "registered":
                add(_("Submit the next monitoring period of %(project)s", project=pid))
            for period in detail.periods:
                if period.state == "verified":
                    add(
                        _(
                            "Request issuance for period %(period)s of %(project)s",
                            period=period.period,
                            project=pid,
                        )
                    )
        if Role.HOST_COORDINATOR in roles and host:
            if detail.state == "submitted":
                add(_("Open the working group review of %(project)s", project=pid))
            if detail.state == "authorized":
                add(_("Register project %(project)s", project=pid))
            for period in detail.periods:
                if period.state == "submitted":
                    add(
                        _(
                            "Assign a verifier to period %(period)s of %(project)s",
                            period=period.period,
                            project=pid,
                        )
                    )
        if (
            Role.WORKING_GROUP_MEMBER in roles
            and detail.state == "in_review"
            and actor.organisation_id in detail.pending_members
        ):
            add(_("Review and sign off %(project)s", project=pid))
        if Role.HOST_CHAIR in roles and host and detail.state == "reviewed":
            add(_("Issue the Letter of Authorization for %(project)s", project=pid))
        if Role.VERIFIER in roles:
            for period in detail.periods:
                if period.state == "verifier_assigned" and period.verifier in (
                    actor.organisation_id,
                    actor.user_id,
                ):
                    add(
                        _(
                            "Verify period %(period)s of %(project)s",
                            period=period.period,
                            project=pid,
                        )
                    )
        if Role.REGISTRY_ADMINISTRATOR in roles and host:
            for period in detail.periods:
                if period.state == "issuance_requested":
                    add(
                        _(
                            "Issue the units of period %(period)s of %(project)s",
                            period=period.period,
                            project=pid,
                        )
                    )
    return found
