"""The command line starts without the data libraries: `article6 --help` and every
group's help answer at once, and the libraries load only in the commands that use them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

import article6
from article6.cli.main import app

# Each of these takes from a few tenths of a second to seconds to import.
HEAVY_MODULES = (
    "alembic",
    "duckdb",
    "fastapi",
    "ibis",
    "matplotlib",
    "numba",
    "numpy",
    "openpyxl",
    "pandas",
    "pyarrow",
    "pyspark",
    "reportlab",
    "scipy",
    "uvicorn",
)

# Run in a fresh interpreter: builds the whole command tree (Typer resolves every
# parameter's annotation), renders the help of every group and command, then lists
# the heavy modules that got imported.
STARTUP = """
import json, sys
import typer.core
import typer.main
from typer.testing import CliRunner
from article6.cli.main import app

command = typer.main.get_command(app)
runner = CliRunner()
failed = []
helped = 0

def walk(group, path):
    global helped
    for name, sub in group.commands.items():
        args = [*path, name]
        result = runner.invoke(app, [*args, "--help"])
        helped += 1
        if result.exit_code != 0:
            failed.append(" ".join(args))
        if isinstance(sub, typer.core.TyperGroup):
            walk(sub, args)

walk(command, [])
heavy = json.loads(sys.argv[1])
loaded = [m for m in heavy if m in sys.modules]
print(json.dumps({"loaded": loaded, "failed": failed, "helped": helped}))
"""


def _startup_environment() -> dict[str, str]:
    """The environment of the child: the same `article6` as this test imports."""
    source = str(Path(article6.__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": source if not path else source + os.pathsep + path}


def test_the_command_line_starts_without_the_data_libraries() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", STARTUP, json.dumps(HEAVY_MODULES)],
        capture_output=True,
        text=True,
        env=_startup_environment(),
        check=False,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    outcome = json.loads(completed.stdout.strip().splitlines()[-1])
    assert outcome["failed"] == []
    assert outcome["helped"] > 40  # every group and command, not only the top level
    assert outcome["loaded"] == [], (
        f"importing article6.cli.main loads {outcome['loaded']}: import them inside "
        "the commands that need them"
    )


def test_help_lists_every_group_and_command() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    for name in (
        "db",
        "registry",
        "people",
        "project",
        "finance",
        "report",
        "accounting",
        "mrv",
        "demo",
        "serve",
    ):
        assert f" {name} " in result.output, name


def test_mrv_help_lists_its_commands() -> None:
    result = CliRunner().invoke(app, ["mrv", "--help"])
    assert result.exit_code == 0, result.output
    for name in ("validate", "calculate", "reproduce", "simulate", "project", "report"):
        assert f" {name} " in result.output, name


def test_help_shows_the_defaults_of_the_data_modules() -> None:
    """The defaults live in light modules, so the help can show them as they are."""
    from article6.mrv.projection import DEFAULT_KOREA_T, DEFAULT_TARGET_T
    from article6.mrv.runs import DEFAULT_RUNS_DIR

    project = CliRunner().invoke(app, ["mrv", "project", "--help"], terminal_width=200)
    assert project.exit_code == 0, project.output
    assert f"[default: {DEFAULT_TARGET_T}]" in project.output
    assert f"[default: {DEFAULT_KOREA_T}]" in project.output
    for command in ("calculate", "reproduce", "report"):
        result = CliRunner().invoke(app, ["mrv", command, "--help"], terminal_width=200)
        assert f"[default: {DEFAULT_RUNS_DIR}]" in result.output, command
