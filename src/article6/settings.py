"""Settings read from environment variables, each with an embedded default.

Defaults make the package run with zero set-up (SQLite in `.article6/`);
production points `ARTICLE6_DATABASE_URL` at PostgreSQL.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = Path(".article6")
DEFAULT_RUNS_DIR = DEFAULT_HOME / "runs"  # frozen MRV calculation runs


@dataclass(frozen=True)
class Settings:
    database_url: str
    key_dir: Path
    home: Path = DEFAULT_HOME  # reports, runs and other files the product writes


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    home = Path(env.get("ARTICLE6_HOME", str(DEFAULT_HOME)))
    database_url = env.get("ARTICLE6_DATABASE_URL") or f"sqlite:///{home / 'article6.db'}"
    key_dir = Path(env.get("ARTICLE6_KEY_DIR") or home / "keys")
    return Settings(database_url=database_url, key_dir=key_dir, home=home)
