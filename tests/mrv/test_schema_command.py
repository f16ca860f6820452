"""`article6 mrv schema` tells a data provider what each file must hold."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from article6.cli.main import app
from article6.mrv.schema import SCHEMAS


def test_json_lists_every_record_type_with_its_columns_and_key() -> None:
    result = CliRunner().invoke(app, ["mrv", "schema", "--json"])
    assert result.exit_code == 0, result.output
    listed = {entry["record_type"]: entry for entry in json.loads(result.output)}
    assert list(listed) == list(SCHEMAS)
    for name, schema in SCHEMAS.items():
        entry = listed[name]
        assert entry["key"] == list(schema.key)
        assert entry["required"] == schema.required
        assert [column["name"] for column in entry["columns"]] == list(schema.column_names)
        optional = {column["name"] for column in entry["columns"] if column["optional"]}
        assert optional == set(schema.column_names) - set(schema.required_column_names)


def test_one_record_type_shows_its_allowed_codes() -> None:
    result = CliRunner().invoke(app, ["mrv", "schema", "--record", "meters", "--json"])
    assert result.exit_code == 0, result.output
    (meters,) = json.loads(result.output)
    role = next(column for column in meters["columns"] if column["name"] == "role")
    assert role["allowed"] == list(SCHEMAS["meters"].column("role").allowed)
    assert "grid_import" in role["allowed"]


def test_the_table_names_the_key_and_the_columns() -> None:
    result = CliRunner().invoke(
        app, ["mrv", "schema", "--record", "device_assignments"], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    assert "unique key device_id, valid_from" in result.output
    for column in SCHEMAS["device_assignments"].column_names:
        assert column in result.output


def test_an_unknown_record_type_is_refused_with_the_known_ones() -> None:
    result = CliRunner().invoke(app, ["mrv", "schema", "--record", "pings"])
    assert result.exit_code == 2
    assert "'pings' is not one of" in result.output
    assert "gps_pings" in result.output
