"""`pingtree apply`, `export` and `schema` against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from pingtree.cli import app
from pingtree.publishers.model import hash_api_key
from tests.config.conftest import DEMO, DEMO_SIMULATOR, Cli, demo_data, issue_lines

DEMO_CREATES = [
    "+ create verticals/auto-insurance",
    "+ create publishers/demo-publisher",
    "+ create publishers/coupon-site",
    "+ create buyers/apex",
    "+ create buyers/bluecrest",
    "+ create buyers/cascade",
    "+ create buyers/delta",
    "+ create buyers/evergreen",
    "+ create buyers/fallback",
    "+ create campaigns/apex-auction",
    "+ create campaigns/bluecrest-auction",
    "+ create campaigns/cascade-direct",
    "+ create campaigns/delta-direct",
    "+ create campaigns/evergreen-direct",
    "+ create campaigns/fallback-direct",
    "+ create campaigns/apex-calls",
    "+ create campaigns/cascade-calls",
    "+ create campaigns/delta-calls",
    "+ create trees/auto-main",
    "+ create trees/auto-calls",
    "+ create routes/demo-publisher:auto-insurance",
    "+ create routes/coupon-site:auto-insurance",
]
KEY_LINE = re.compile(r"^API key for publisher (\S+) \(shown once\): (\S+)$")


def _keys(output: str) -> dict[str, str]:
    return {m[1]: m[2] for line in output.splitlines() if (m := KEY_LINE.match(line))}


def _plan(output: str) -> list[str]:
    return [line for line in output.splitlines() if not KEY_LINE.match(line)]


def test_apply_prints_creates_then_no_changes(cli: Cli) -> None:
    first = cli("apply", str(DEMO))
    assert first.exit_code == 0, first.output
    assert _plan(first.stdout) == DEMO_CREATES
    assert len(cli.rows()) == len(DEMO_CREATES)
    assert cli.version() == 1

    second = cli("apply", str(DEMO))
    assert second.exit_code == 0, second.output
    assert second.stdout.splitlines() == ["no changes"]
    assert cli.version() == 1  # nothing changed, nothing for other processes to reload


def test_dry_run_changes_nothing(cli: Cli) -> None:
    result = cli("apply", str(DEMO), "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [*DEMO_CREATES, "(dry run: nothing changed)"]
    assert cli.rows() == {}
    assert cli.version() == 0

    cli("apply", str(DEMO))
    before = cli.rows()
    data = demo_data()
    data["campaigns"][2]["price"]["amount"] = "99.00"
    del data["routes"][1]
    dry = cli("apply", cli.write(data), "--dry-run")
    assert dry.stdout.splitlines() == [
        "~ change campaigns/cascade-direct",
        "    campaigns/cascade-direct.price.amount: 12.00 -> 99.00",
        "- remove routes/coupon-site:auto-insurance",
        "(dry run: nothing changed)",
    ]
    assert cli.rows() == before
    assert cli.version() == 1


def test_editing_a_campaign_prints_a_change(cli: Cli) -> None:
    cli("apply", str(DEMO))
    data = demo_data()
    data["campaigns"][2]["price"]["amount"] = "13.50"
    data["campaigns"][2]["caps"] = {"daily": 150}
    result = cli("apply", cli.write(data))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "~ change campaigns/cascade-direct",
        "    campaigns/cascade-direct.caps.daily: 200 -> 150",
        "    campaigns/cascade-direct.price.amount: 12.00 -> 13.50",
    ]
    spec = cli.rows()[("campaigns", "cascade-direct")]
    assert spec["price"]["amount"] == "13.50"
    assert spec["caps"]["daily"] == 150
    assert cli.version() == 2
    assert cli("apply", cli.write(data)).stdout.splitlines() == ["no changes"]


def test_removing_prints_removes_dependents_first(cli: Cli) -> None:
    cli("apply", str(DEMO))
    data = demo_data()
    data["buyers"] = [b for b in data["buyers"] if b["name"] != "fallback"]
    data["campaigns"] = [c for c in data["campaigns"] if c["name"] != "fallback-direct"]
    data["trees"][0]["tiers"][2]["campaigns"] = [{"campaign": "evergreen-direct"}]
    result = cli("apply", cli.write(data))
    assert result.exit_code == 0, result.output
    assert [line for line in result.stdout.splitlines() if not line.startswith(" ")] == [
        "~ change trees/auto-main",
        "- remove campaigns/fallback-direct",
        "- remove buyers/fallback",
    ]
    rows = cli.rows()
    assert ("campaigns", "fallback-direct") not in rows
    assert ("buyers", "fallback") not in rows
    assert len(rows) == len(DEMO_CREATES) - 2


def test_keep_leaves_what_the_file_omits(cli: Cli) -> None:
    cli("apply", str(DEMO))
    data = demo_data()
    data["routes"] = data["routes"][:1]
    result = cli("apply", cli.write(data), "--keep")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["no changes"]
    assert ("routes", "coupon-site:auto-insurance") in cli.rows()

    data["buyers"].append({"name": "newcomer"})
    kept = cli("apply", cli.write(data), "--keep")
    assert kept.stdout.splitlines() == ["+ create buyers/newcomer"]
    assert ("routes", "coupon-site:auto-insurance") in cli.rows()


def test_keep_applies_a_partial_file_that_refers_to_stored_resources(cli: Cli) -> None:
    cli("apply", str(DEMO))
    apex = next(c for c in demo_data()["campaigns"] if c["name"] == "apex-auction")
    partial = {"campaigns": [{**apex, "name": "apex-weekend"}]}  # buyer, vertical: stored
    result = cli("apply", cli.write(partial), "--keep")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["+ create campaigns/apex-weekend"]
    assert ("buyers", "apex") in cli.rows()

    broken = {"campaigns": [{**apex, "name": "apex-ghost", "buyer": "ghost"}]}
    refused = cli("apply", cli.write(broken), "--keep")
    assert refused.exit_code == 1
    assert "campaigns/apex-ghost.buyer: unknown buyer 'ghost'" in refused.stderr
    assert ("campaigns", "apex-ghost") not in cli.rows()


def test_a_bad_file_is_refused_and_nothing_is_applied(cli: Cli) -> None:
    data = demo_data()
    data["campaigns"][3]["caps"] = {"daily": -1}  # 0 is allowed: it closes the campaign
    path = cli.write(data)
    result = cli("apply", path)
    assert result.exit_code == 1
    assert f"{path}: campaigns[3].caps.daily: must be >= 0" in issue_lines(result.stderr)
    assert cli.rows() == {}


def test_new_publisher_key_is_printed_once_and_stored_only_hashed(cli: Cli) -> None:
    first = cli("apply", str(DEMO))
    keys = _keys(first.stdout)
    assert set(keys) == {"demo-publisher", "coupon-site"}
    assert keys["demo-publisher"] != keys["coupon-site"]

    rows = cli.rows()
    for name, key in keys.items():
        spec = rows[("publishers", name)]
        assert "api_key" not in spec
        assert spec["api_key_sha256"] == hash_api_key(key)
    everything = json.dumps(list(rows.values()))
    assert not any(key in everything for key in keys.values())

    again = cli("apply", str(DEMO))
    assert _keys(again.stdout) == {}  # shown once: the stored hash is kept
    assert cli.rows()[("publishers", "demo-publisher")]["api_key_sha256"] == hash_api_key(
        keys["demo-publisher"]
    )


def test_a_key_given_in_the_file_is_stored_hashed_and_not_printed(cli: Cli) -> None:
    data = demo_data()
    data["publishers"][0]["api_key"] = "my-own-key-0123456789"
    result = cli("apply", cli.write(data))
    assert set(_keys(result.stdout)) == {"coupon-site"}
    assert "my-own-key-0123456789" not in result.output
    spec = cli.rows()[("publishers", "demo-publisher")]
    assert "api_key" not in spec
    assert spec["api_key_sha256"] == hash_api_key("my-own-key-0123456789")
    assert cli("apply", cli.write(data)).stdout.splitlines() == ["no changes"]

    data["publishers"][0]["api_key"] = "another-key-9876543210"
    rotated = cli("apply", cli.write(data))
    assert rotated.stdout.splitlines() == [
        "~ change publishers/demo-publisher",
        "    publishers/demo-publisher.api_key_sha256: (secret changed)",
    ]
    assert cli.rows()[("publishers", "demo-publisher")]["api_key_sha256"] == hash_api_key(
        "another-key-9876543210"
    )


def test_export_reapplied_gives_no_changes(cli: Cli) -> None:
    applied = cli("apply", str(DEMO))
    keys = _keys(applied.stdout)
    exported = cli("export")
    assert exported.exit_code == 0, exported.output
    text = exported.stdout
    assert not any(key in text for key in keys.values())
    data = yaml.safe_load(text)
    assert [p["name"] for p in data["publishers"]] == ["coupon-site", "demo-publisher"]
    assert all("api_key" not in p and len(p["api_key_sha256"]) == 64 for p in data["publishers"])
    assert len(data["campaigns"]) == 9

    path = cli.write(data, "exported.yaml")
    assert cli("validate", path).exit_code == 0
    again = cli("apply", path)
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines() == ["no changes"]
    assert cli.version() == 1


def test_export_of_an_empty_database_reapplies_as_nothing(cli: Cli) -> None:
    result = cli("export")
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.stdout) in (None, {})
    again = cli("apply", cli.write(yaml.safe_load(result.stdout) or {}))
    assert again.stdout.splitlines() == ["no changes"]


def test_export_from_a_fresh_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PINGTREE_DATABASE_URL", raising=False)
    monkeypatch.setenv("PINGTREE_DATA_DIR", str(tmp_path / "fresh"))
    monkeypatch.setenv("PINGTREE_BUYER_URL_ALLOW", DEMO_SIMULATOR)
    result = CliRunner().invoke(app, ["export"])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.stdout) in (None, {})


def test_apply_migrates_a_fresh_sqlite_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PINGTREE_DATABASE_URL", raising=False)
    monkeypatch.setenv("PINGTREE_DATA_DIR", str(tmp_path / "fresh"))
    monkeypatch.setenv("PINGTREE_BUYER_URL_ALLOW", DEMO_SIMULATOR)
    result = CliRunner().invoke(app, ["apply", str(DEMO)])
    assert result.exit_code == 0, result.output
    assert _plan(result.stdout) == DEMO_CREATES
    assert (tmp_path / "fresh" / "pingtree.db").is_file()
    again = CliRunner().invoke(app, ["apply", str(DEMO)])
    assert again.stdout.splitlines() == ["no changes"]


# --- pingtree schema ---------------------------------------------------------------------


def _check(schema: dict[str, Any], instance: Any, root: dict[str, Any], at: str = "$") -> list[str]:
    """The JSON Schema keywords pydantic emits, checked (jsonschema is not a dependency)."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        return _check(root["$defs"][name], instance, root, at)
    errors: list[str] = []
    kind = schema.get("type")
    types = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
    }
    if kind is not None and not types[kind](instance):
        return [f"{at}: not {kind}"]
    if "enum" in schema and instance not in schema["enum"]:
        errors.append(f"{at}: not one of {schema['enum']}")
    if "const" in schema and instance != schema["const"]:
        errors.append(f"{at}: not {schema['const']!r}")
    if "anyOf" in schema:
        branches = [_check(s, instance, root, at) for s in schema["anyOf"]]
        if all(branches):  # report the alternative of the instance's own type
            same_type = [b for b in branches if not b[0].startswith(f"{at}: not ")]
            errors += min(same_type or branches, key=len)
    for sub in schema.get("allOf", []):
        errors += _check(sub, instance, root, at)
    if isinstance(instance, str):
        if "pattern" in schema and not re.search(schema["pattern"], instance):
            errors.append(f"{at}: does not match {schema['pattern']}")
        if len(instance) < schema.get("minLength", 0):
            errors.append(f"{at}: too short")
    if isinstance(instance, int | float) and not isinstance(instance, bool):
        if "minimum" in schema and instance < schema["minimum"]:
            errors.append(f"{at}: < minimum")
        if "exclusiveMinimum" in schema and instance <= schema["exclusiveMinimum"]:
            errors.append(f"{at}: <= exclusiveMinimum")
        if "maximum" in schema and instance > schema["maximum"]:
            errors.append(f"{at}: > maximum")
    if isinstance(instance, list):
        if len(instance) < schema.get("minItems", 0):
            errors.append(f"{at}: too few items")
        if "items" in schema:
            for i, item in enumerate(instance):
                errors += _check(schema["items"], item, root, f"{at}[{i}]")
    if isinstance(instance, dict):
        props = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        errors += [f"{at}.{k}: required" for k in schema.get("required", []) if k not in instance]
        for key, value in instance.items():
            matched = [p for p in patterns if re.search(p, key)]
            for p in matched:
                errors += _check(patterns[p], value, root, f"{at}.{key}")
            if key in props:
                errors += _check(props[key], value, root, f"{at}.{key}")
            elif not matched:
                extra = schema.get("additionalProperties", True)
                if extra is False:
                    errors.append(f"{at}.{key}: not allowed")
                elif isinstance(extra, dict):
                    errors += _check(extra, value, root, f"{at}.{key}")
    return errors


def _validator() -> Any:
    try:
        import jsonschema  # type: ignore[import-untyped]
    except ImportError:
        return None
    return jsonschema


def _schema_errors(schema: dict[str, Any], data: Any) -> list[str]:
    jsonschema = _validator()
    if jsonschema is not None:
        validator = jsonschema.Draft202012Validator(schema)
        return [e.message for e in validator.iter_errors(data)]
    return _check(schema, data, schema)


@pytest.fixture
def schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def test_schema_describes_every_resource_kind(schema: dict[str, Any]) -> None:
    assert schema["type"] == "object"
    assert schema["title"] == "pingtree configuration"
    assert set(schema["properties"]) == {
        "verticals",
        "publishers",
        "buyers",
        "campaigns",
        "trees",
        "routes",
    }
    assert schema["properties"]["campaigns"]["items"] == {"$ref": "#/$defs/Campaign"}
    campaign = schema["$defs"]["Campaign"]
    assert {"name", "buyer", "vertical", "price", "delivery"} <= set(campaign["required"])
    assert schema["$defs"]["Flow"]["enum"] == [
        "priority",
        "price",
        "weight",
        "even",
        "parallel",
        "ping_post",
    ]
    assert set(schema["$defs"]["FilterOp"]["enum"]) == {
        "equals",
        "in",
        "not_in",
        "range",
        "regex",
        "exists",
        "zip_list",
        "near",
    }


def test_schema_validates_the_demo_file(schema: dict[str, Any]) -> None:
    data = yaml.safe_load(DEMO.read_text())
    assert any(key.startswith("x-") for key in data)  # the anchors must be allowed too
    assert _schema_errors(schema, data) == []


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["campaigns"][0].update(colour="red"),
        lambda d: d["campaigns"][2]["caps"].update(daily="lots"),
        lambda d: d["trees"][0]["tiers"][0].update(flow="fastest"),
        lambda d: d["campaigns"][1].pop("buyer"),
        lambda d: d.update(campaign=[]),
    ],
)
def test_schema_refuses_a_broken_demo_file(schema: dict[str, Any], edit: Any) -> None:
    data = demo_data()
    edit(data)
    assert _schema_errors(schema, data) != []


def test_serve_refuses_several_workers_on_sqlite(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pingtree.cli import app

    env = {"PINGTREE_DATA_DIR": str(tmp_path), "PINGTREE_DATABASE_URL": ""}
    result = CliRunner().invoke(app, ["serve", "--workers", "2"], env=env)
    assert result.exit_code == 1
    assert "SQLite takes one writer" in result.output


def test_serve_refuses_several_workers_without_redis(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pingtree.cli import app

    # Refused before anything is opened: this database need not exist.
    env = {
        "PINGTREE_DATA_DIR": str(tmp_path),
        "PINGTREE_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
        "PINGTREE_REDIS_URL": "",
    }
    result = CliRunner().invoke(app, ["serve", "--workers", "2"], env=env)
    assert result.exit_code == 1
    assert "set PINGTREE_REDIS_URL" in result.output


def test_schema_describes_every_filter_operator_and_the_new_settings(
    schema: dict[str, Any],
) -> None:
    op = schema["$defs"]["Filter"]["properties"]["op"]["description"]
    for name in schema["$defs"]["FilterOp"]["enum"]:
        assert name in op, name
    assert "case-insensitive" in schema["$defs"]["Filter"]["properties"]["pattern"]["description"]
    assert "24:00" in schema["$defs"]["ScheduleWindow"]["properties"]["end"]["description"]
    assert "dates_off" in schema["$defs"]["Schedule"]["properties"]
    assert {"minute", "lifetime"} <= set(schema["$defs"]["Caps"]["properties"])
    assert "rotate" in schema["$defs"]["Tier"]["properties"]["ties"]["description"]
    assert "derived" in schema["$defs"]["FieldSpec"]["properties"]


def test_schema_lets_filter_values_be_numbers(schema: dict[str, Any]) -> None:
    data = demo_data()
    data["campaigns"][0]["filters"] = [{"field": "age", "op": "in", "values": [30, "31", 32.5]}]
    assert _schema_errors(schema, data) == []
