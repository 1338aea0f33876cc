"""Consent in the configuration document: `pingtree validate` names each bad setting with its
position; the JSON schema describes every consent property."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from pingtree.cli import app
from pingtree.config.files import json_schema, load_file
from tests.config.conftest import DEMO, DEMO_SIMULATOR, demo_data, issue_lines


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PINGTREE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PINGTREE_BUYER_URL_ALLOW", DEMO_SIMULATOR)


def _with_consent(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    data = demo_data()
    data["verticals"][0]["consent"] = {
        "required": True,
        "max_age": "P30D",
        "unnamed_sellers": "refuse",
    }
    data["publishers"][1]["consent"] = {"max_age": 900}
    data["buyers"][0]["consent_names"] = ["Apex Insurance", "Apex Insurance Agency LLC"]
    path = tmp_path / "consent.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path, data


@pytest.mark.usefixtures("cli_env")
def test_consent_settings_load(tmp_path: Path) -> None:
    path, _ = _with_consent(tmp_path)
    document = load_file(path, allow=None)
    policy = document.verticals[0].consent
    assert policy is not None and policy.max_age is not None
    assert (policy.required, policy.max_age.days, policy.unnamed_sellers) == (True, 30, "refuse")
    assert document.buyers[0].consent_names == ["Apex Insurance", "Apex Insurance Agency LLC"]


@pytest.mark.usefixtures("cli_env")
def test_bad_consent_settings_are_named_with_their_positions(tmp_path: Path) -> None:
    _, data = _with_consent(tmp_path)
    data["verticals"][0]["consent"].update(unnamed_sellers="sometimes", max_age=-5, needed=True)
    data["publishers"][1]["consent"] = {"max_age": "a while"}
    data["buyers"][0]["consent_names"] = ["Apex Insurance", ""]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    lines = issue_lines(result.stderr)
    expected = [
        "verticals[0].consent.max_age: ",
        "verticals[0].consent.unnamed_sellers: must be one of 'allow' or 'refuse'",
        "verticals[0].consent.needed: is not a known key",
        "publishers[1].consent.max_age: ",
        "buyers[0].consent_names[1]: ",
    ]
    for start in expected:
        assert any(line.startswith(f"{path}: {start}") for line in lines), (start, lines)
    # each with its line in the file
    assert all(line.startswith(f"{path}:") for line in result.stderr.splitlines())


def test_the_schema_describes_consent() -> None:
    schema = json_schema()
    policy = schema["$defs"]["ConsentPolicy"]["properties"]
    assert set(policy) == {"required", "max_age", "unnamed_sellers"}
    assert all(prop.get("description") for prop in policy.values())
    assert schema["$defs"]["Buyer"]["properties"]["consent_names"]["description"]
    assert schema["$defs"]["Vertical"]["properties"]["consent"]["description"]


@pytest.mark.usefixtures("cli_env")
def test_the_posting_spec_tells_the_publisher_its_consent_policy(tmp_path: Path) -> None:
    from pingtree.config.posting_spec import posting_spec

    path, _ = _with_consent(tmp_path)
    document = load_file(path, allow=None)
    strict = posting_spec(document, "coupon-site")  # the vertical's policy, max_age its own
    assert "**Required.** A lead without it is refused (422 `missing_consent`)." in strict
    assert "Consent older than 0:15:00 when the lead arrives is refused" in strict
    assert "A certificate naming no sellers is refused (`consent_names_no_seller`)." in strict
    assert "| `ip` | yes | the consumer's IP address at consent |" in strict
    demo = posting_spec(load_file(DEMO, allow=None), "demo-publisher")
    assert "Optional; when sent it is checked and kept with the lead." in demo
