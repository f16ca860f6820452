"""Tables of people and of the project workflow: organisations, users, API
tokens, working groups, projects, reviews and monitoring periods.

Like the registry tables they are projections of journal events, written in
the same transaction as the event.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from article6.store.tables import metadata

organisations = Table(
    "organisations",
    metadata,
    Column("organisation_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("party", String(3), nullable=True),
    Column("kind", String(40), nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column(
        "organisation_id",
        String(64),
        ForeignKey("organisations.organisation_id"),
        nullable=False,
    ),
    Column("name", String(200), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("roles", Text, nullable=False),
    Column("locale", String(10), nullable=False),
    Column("active", Boolean, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(64), ForeignKey("users.user_id"), nullable=False),
    Column("label", String(200), nullable=False),
    Column("revoked", Boolean, nullable=False),
)

working_group_members = Table(
    "working_group_members",
    metadata,
    Column("approach_id", String(6), primary_key=True),
    Column(
        "organisation_id",
        String(64),
        ForeignKey("organisations.organisation_id"),
        primary_key=True,
    ),
)

projects = Table(
    "projects",
    metadata,
    Column("project_id", String(64), primary_key=True),
    Column("approach_id", String(6), nullable=False),
    Column("developer", String(64), ForeignKey("organisations.organisation_id"), nullable=False),
    Column("state", String(30), nullable=False),
    Column("review_round", Integer, nullable=False),
    Column("authorization_id", String(64), nullable=True),
    Column("data", Text, nullable=False),
    Column("updated_seq", BigInteger, nullable=False),
)

reviews = Table(
    "reviews",
    metadata,
    Column("project_id", String(64), ForeignKey("projects.project_id"), primary_key=True),
    Column("review_round", Integer, primary_key=True, autoincrement=False),
    Column("organisation_id", String(64), primary_key=True),
    Column("user_id", String(64), nullable=False),
    Column("data", Text, nullable=False),
    Column("seq", BigInteger, nullable=False),
)

monitoring_periods = Table(
    "monitoring_periods",
    metadata,
    Column("project_id", String(64), ForeignKey("projects.project_id"), primary_key=True),
    Column("period", Integer, primary_key=True, autoincrement=False),
    Column("state", String(30), nullable=False),
    Column("verifier", String(64), nullable=True),
    Column("data", Text, nullable=False),
    Column("updated_seq", BigInteger, nullable=False),
)

# Operational state, not a projection: failed sign-ins inside the rate-limit
# window, shared by every server process (``api.auth.LoginRateLimiter``).
login_failures = Table(
    "login_failures",
    metadata,
    Column("failure_id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(300), nullable=False),
    Column("failed_at", Double, nullable=False),
    Index("ix_login_failures_key", "key", "failed_at"),
    Index("ix_login_failures_failed_at", "failed_at"),
)
