"""`pingtree validate` finishes the job in one pass: every schema and reference problem at
once, each with file, line and column, and the closest known name for an unknown one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pingtree.cli import app
from pingtree.config.files import json_schema
from tests.config.conftest import DEMO, DEMO_SIMULATOR


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("PINGTREE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PINGTREE_BUYER_URL_ALLOW", DEMO_SIMULATOR)
    return CliRunner()


def _edit(tmp_path: Path, *edits: tuple[str, str]) -> tuple[Path, str]:
    """The demo file with each (old, new) text replaced once: its line numbers stay put."""
    text = DEMO.read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return path, text


def _at(text: str, needle: str, occurrence: int = 1) -> str:
    """'line:column' (1-based) of the n-th occurrence of needle in text."""
    start = -1
    for _ in range(occurrence):
        start = text.index(needle, start + 1)
    line = text.count("\n", 0, start) + 1
    column = start - (text.rfind("\n", 0, start) + 1) + 1
    return f"{line}:{column}"


def test_schema_and_reference_problems_in_one_run_with_line_column_and_suggestion(
    runner: CliRunner, tmp_path: Path
) -> None:
    path, text = _edit(
        tmp_path,
        ("    buyer: apex\n", "    buyer: apexx\n"),
        ("caps: {daily: 500, budget", "caps: {dayly: 500, budget"),
        ("{field: credit_rating, op: in", "{field: credit_ratng, op: in"),
        ("    timeout_ms: 1500\n", "    timeout_ms: -5\n"),
        ("{campaign: delta-direct, rank: 2}", "{campaign: delta-drect, rank: 2}"),
        (
            "{publisher: coupon-site, vertical: auto-insurance, tree: auto-main}",
            "{publisher: coupon-sit, vertical: auto-insurance, tree: auto-mian}",
        ),
    )
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{path}:{_at(text, 'buyer: apexx')}: campaigns[0].buyer: "
        "unknown buyer 'apexx' (did you mean 'apex'?)",
        f"{path}:{_at(text, 'field: credit_ratng')}: campaigns[0].filters[1].field: "
        "vertical 'auto-insurance' has no field 'credit_ratng' (did you mean 'credit_rating'?)",
        f"{path}:{_at(text, 'dayly')}: campaigns[0].caps.dayly: "
        "is not a known key (did you mean 'daily'?)",
        f"{path}:{_at(text, 'timeout_ms: -5')}: campaigns[0].delivery.timeout_ms: must be > 0",
        f"{path}:{_at(text, 'campaign: delta-drect')}: trees[0].tiers[1].campaigns[1].campaign: "
        "unknown campaign 'delta-drect' (did you mean 'delta-direct'?)",
        f"{path}:{_at(text, 'publisher: coupon-sit')}: routes[1].publisher: "
        "unknown publisher 'coupon-sit' (did you mean 'coupon-site'?)",
        f"{path}:{_at(text, 'tree: auto-mian')}: routes[1].tree: "
        "unknown tree 'auto-mian' (did you mean 'auto-main'?)",
    ]


def test_a_reference_to_an_invalid_resource_is_not_called_unknown(
    runner: CliRunner, tmp_path: Path
) -> None:
    # cascade-direct is present but invalid: the tree naming it gets no second complaint
    path, text = _edit(
        tmp_path, ("  - name: cascade-direct\n", "  - name: cascade-direct\n    colour: red\n")
    )
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{path}:{_at(text, 'colour')}: campaigns[2].colour: is not a known key",
    ]


def test_a_key_of_a_nested_list_item_suggests_its_own_keys(
    runner: CliRunner, tmp_path: Path
) -> None:
    path, text = _edit(
        tmp_path, ("{campaign: cascade-direct, rank: 1}", "{campaign: cascade-direct, rnak: 1}")
    )
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{path}:{_at(text, 'rnak')}: trees[0].tiers[1].campaigns[0].rnak: "
        "is not a known key (did you mean 'rank'?)",
    ]


def test_every_field_of_the_json_schema_is_described() -> None:
    schema = json_schema()
    models: list[tuple[str, dict[str, Any]]] = [("ConfigDocument", schema)]
    models += list(schema["$defs"].items())
    undescribed = [
        f"{name}.{key}"
        for name, model in models
        for key, prop in model.get("properties", {}).items()
        if not prop.get("description")
    ]
    assert undescribed == []
