"""`pingtree validate FILE`: a good file passes; a bad one names file, path and reason."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from pingtree.cli import app
from tests.config.conftest import DEMO, DEMO_SIMULATOR, demo_data, issue_lines

Validate = Callable[[str], Result]


@pytest.fixture
def validate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Validate:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PINGTREE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PINGTREE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")
    monkeypatch.setenv("PINGTREE_BUYER_URL_ALLOW", DEMO_SIMULATOR)
    runner = CliRunner()
    return lambda path: runner.invoke(app, ["validate", path])


def _write(tmp_path: Path, data: dict[str, Any] | str, name: str = "bad.yaml") -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return str(path)


def _refused(result: Result, file: str, *lines: str) -> None:
    assert result.exit_code == 1, result.output
    assert "valid (" not in result.stdout
    for line in lines:
        assert f"{file}: {line}" in issue_lines(result.stderr), result.stderr


def test_demo_file_is_valid(validate: Validate, tmp_path: Path) -> None:
    result = validate(str(DEMO))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        f"{DEMO}: valid (1 verticals, 2 publishers, 6 buyers, 9 campaigns, 2 trees, 2 routes)"
    )
    assert not (tmp_path / "data").exists()  # validating touches no database


def test_a_negative_cap_is_named_by_file_path_and_reason(
    validate: Validate, tmp_path: Path
) -> None:
    data = demo_data()
    data["campaigns"][3]["caps"] = {"daily": -1}  # 0 is allowed: it closes the campaign
    path = _write(tmp_path, data)
    _refused(validate(path), path, "campaigns[3].caps.daily: must be >= 0")


def test_every_problem_is_listed_at_once(validate: Validate, tmp_path: Path) -> None:
    data = demo_data()
    data["campaigns"][0]["caps"]["budget"]["daily"] = "-1"
    data["campaigns"][2]["price"]["amount"] = "12.345"
    data["trees"][0]["max_processing_ms"] = 0
    path = _write(tmp_path, data)
    _refused(
        validate(path),
        path,
        "campaigns[0].caps.budget.daily: must be >= 0",
        "campaigns[2].price.amount: must have at most 2 decimal places",
        "trees[0].max_processing_ms: must be > 0",
    )


@pytest.mark.parametrize(
    ("where", "line"),
    [
        ("campaign", "campaigns[1].colour: is not a known key"),
        ("top", "campaign: is not a known key (did you mean 'campaigns'?)"),
    ],
)
def test_unknown_key(validate: Validate, tmp_path: Path, where: str, line: str) -> None:
    data = demo_data()
    if where == "campaign":
        data["campaigns"][1]["colour"] = "red"
    else:
        data["campaign"] = []  # a typo of campaigns
    path = _write(tmp_path, data)
    _refused(validate(path), path, line)


def test_top_level_x_keys_hold_anchors_and_are_not_resources(
    validate: Validate, tmp_path: Path
) -> None:
    text = DEMO.read_text()
    assert "x-json-post: &json-post" in text  # the demo relies on it
    path = _write(tmp_path, "x-unused: {anything: 1}\n" + text, "anchors.yaml")
    assert validate(path).exit_code == 0


def test_bad_yaml_syntax_gives_line_and_column(validate: Validate, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "buyers:\n  - name: apex\n    active: true\n   contact_email: x@example.com\n",
    )
    result = validate(path)
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"{path}:4:4: not valid YAML: "), line


def test_unclosed_flow_sequence(validate: Validate, tmp_path: Path) -> None:
    path = _write(tmp_path, "buyers:\n  - name: apex\n  - name: [unclosed\n  - name: b\n")
    result = validate(path)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{path}:4:9: not valid YAML"), result.stderr


def test_file_that_is_not_a_mapping(validate: Validate, tmp_path: Path) -> None:
    path = _write(tmp_path, "- just\n- a list\n")
    _refused(validate(path), path, "(top level): the file must be a mapping of resource lists")


def test_missing_file(validate: Validate, tmp_path: Path) -> None:
    path = str(tmp_path / "nowhere.yaml")
    _refused(validate(path), path, "(top level): cannot read: No such file or directory")


def test_unknown_buyer(validate: Validate, tmp_path: Path) -> None:
    data = demo_data()
    data["campaigns"][4]["buyer"] = "nobody"
    path = _write(tmp_path, data)
    _refused(validate(path), path, "campaigns[4].buyer: unknown buyer 'nobody'")


def test_unknown_campaign_in_tier(validate: Validate, tmp_path: Path) -> None:
    data = demo_data()
    data["trees"][0]["tiers"][1]["campaigns"][1]["campaign"] = "ghost"
    path = _write(tmp_path, data)
    _refused(
        validate(path), path, "trees[0].tiers[1].campaigns[1].campaign: unknown campaign 'ghost'"
    )


def test_unknown_tree_in_route(validate: Validate, tmp_path: Path) -> None:
    data = demo_data()
    data["routes"][1]["tree"] = "ghost-tree"
    path = _write(tmp_path, data)
    _refused(validate(path), path, "routes[1].tree: unknown tree 'ghost-tree'")


def test_unknown_publisher_and_vertical_in_route(validate: Validate, tmp_path: Path) -> None:
    data = demo_data()
    data["routes"][0]["publisher"] = "nobody"
    data["campaigns"][5]["vertical"] = "solar"
    path = _write(tmp_path, data)
    _refused(
        validate(path),
        path,
        "routes[0].publisher: unknown publisher 'nobody'",
        "campaigns[5].vertical: unknown vertical 'solar'",
    )


def test_filter_on_a_field_the_vertical_lacks(validate: Validate, tmp_path: Path) -> None:
    data = demo_data()
    data["campaigns"][1]["filters"].append({"field": "income", "op": "exists"})
    path = _write(tmp_path, data)
    _refused(
        validate(path),
        path,
        "campaigns[1].filters[1].field: vertical 'auto-insurance' has no field 'income'",
    )


@pytest.mark.parametrize("field", ["email", "ip_address", "street"])
def test_pii_field_in_ping_fields_is_refused(
    validate: Validate, tmp_path: Path, field: str
) -> None:
    data = demo_data()
    fields = data["campaigns"][0]["delivery"]["ping_fields"]
    fields.append(field)
    path = _write(tmp_path, data)
    _refused(
        validate(path),
        path,
        f"campaigns[0].delivery.ping_fields[{len(fields) - 1}]: "
        f"'{field}' is PII and never sent in a ping",
    )


def test_non_pii_ping_fields_pass(validate: Validate, tmp_path: Path) -> None:
    data = demo_data()
    data["campaigns"][0]["delivery"]["ping_fields"] = ["zip", "state"]
    assert validate(_write(tmp_path, data)).exit_code == 0


@pytest.mark.parametrize(
    ("edit", "line"),
    [
        (
            lambda d: d["campaigns"][2].update(
                filters=[{"field": "zip", "op": "regex", "pattern": "([0-9]"}]
            ),
            "campaigns[2].filters[0]: pattern is not a valid regular expression",
        ),
        (
            lambda d: d["verticals"][0]["fields"][6].update(regex="^9[0-9{3}$"),
            "verticals[0].fields[6].regex: not a valid regular expression",
        ),
        (
            lambda d: d["campaigns"][5]["delivery"]["post"].update(
                response={
                    "rules": [{"source": "body", "matches": "(accepted", "outcome": "accepted"}]
                }
            ),
            "campaigns[5].delivery.post.response.rules[0].matches: not a valid regular expression",
        ),
        (
            lambda d: d["campaigns"][5]["delivery"]["post"].update(
                response={
                    "rules": [
                        {
                            "source": "regex",
                            "path": "<s>(\\w+",
                            "equals": "ok",
                            "outcome": "accepted",
                        }
                    ]
                }
            ),
            "campaigns[5].delivery.post.response.rules[0].path: not a valid regular expression",
        ),
    ],
)
def test_bad_regex(
    validate: Validate, tmp_path: Path, edit: Callable[[Any], Any], line: str
) -> None:
    data = demo_data()
    edit(data)
    path = _write(tmp_path, data)
    result = validate(path)
    assert result.exit_code == 1
    (only,) = issue_lines(result.stderr)
    assert only.startswith(f"{path}: {line}: "), only


def test_unknown_time_zone(validate: Validate, tmp_path: Path) -> None:
    data = demo_data()
    data["campaigns"][0]["schedule"]["timezone"] = "America/Springfield"
    path = _write(tmp_path, data)
    _refused(
        validate(path),
        path,
        "campaigns[0].schedule.timezone: unknown IANA time zone 'America/Springfield'",
    )


def test_known_time_zone_passes(validate: Validate, tmp_path: Path) -> None:
    data = demo_data()
    data["campaigns"][0]["schedule"]["timezone"] = "Europe/Berlin"
    assert validate(_write(tmp_path, data)).exit_code == 0


@pytest.mark.parametrize(
    ("kind", "index", "key"),
    [
        ("buyers", 6, "apex"),
        ("campaigns", 9, "cascade-direct"),
        ("publishers", 2, "coupon-site"),
        ("routes", 2, "demo-publisher:auto-insurance"),
    ],
)
def test_duplicate_names(
    validate: Validate, tmp_path: Path, kind: str, index: int, key: str
) -> None:
    data = demo_data()
    original = next(
        item
        for item in data[kind]
        if item.get("name", f"{item.get('publisher')}:{item.get('vertical')}") == key
    )
    data[kind].append(dict(original))
    path = _write(tmp_path, data)
    _refused(validate(path), path, f"{kind}[{index}]: '{key}' is defined twice")


def test_campaign_of_another_vertical_in_tree(validate: Validate, tmp_path: Path) -> None:
    data = demo_data()
    data["verticals"].append({"name": "solar", "fields": [{"name": "zip", "type": "zip"}]})
    data["campaigns"][5]["vertical"] = "solar"
    path = _write(tmp_path, data)
    _refused(
        validate(path),
        path,
        "trees[0].tiers[2].campaigns[1].campaign: "
        "campaign is for vertical 'solar', tree for 'auto-insurance'",
    )


def test_every_bad_response_path_is_named_at_validation(validate: Validate, tmp_path: Path) -> None:
    # Issue 10: each of these validated before and failed (or never matched) at every answer.
    data = demo_data()
    data["campaigns"][5]["delivery"]["post"]["response"] = {
        "rules": [
            {"source": "json", "path": "$.[[", "exists": True, "outcome": "accepted"},
            {"source": "xpath", "path": "//status[", "exists": True, "outcome": "accepted"},
            {"source": "xpath", "path": "nosuch()", "exists": True, "outcome": "accepted"},
            {"source": "css", "path": "div[", "exists": True, "outcome": "rejected"},
        ],
        "capture": {"buyer_lead_id": {"source": "regex", "path": "id=(\\d+"}},
    }
    path = _write(tmp_path, data)
    result = validate(path)
    assert result.exit_code == 1
    where = "campaigns[5].delivery.post.response"
    lines = issue_lines(result.stderr)
    expected = [
        f"{path}: {where}.rules[0].path: not a valid JSONPath: ",
        f"{path}: {where}.rules[1].path: not a valid XPath 1.0 expression: ",
        f"{path}: {where}.rules[2].path: not a valid XPath 1.0 expression: Unregistered function",
        f"{path}: {where}.rules[3].path: not a valid CSS selector: ",
        f"{path}: {where}.capture.buyer_lead_id.path: not a valid regular expression: ",
    ]
    assert len(lines) == len(expected), lines
    for line, start in zip(lines, expected, strict=True):
        assert line.startswith(start), (line, start)
