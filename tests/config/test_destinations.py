"""Buyer URLs are checked when the configuration is validated, applied or changed by API."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from pingtree.cli import app
from pingtree.demo import _with_simulator
from pingtree.simulator import SimulatorConfig
from tests.config.conftest import DEMO_SIMULATOR, Cli, demo_data, issue_lines

REFUSED = [
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254:80 is a link-local/metadata"),
    ("http://metadata.google.internal/v1/", "metadata.google.internal is a link-local/metadata"),
    ("http://10.0.0.5/post", "10.0.0.5:80 is a private address"),
    ("http://192.168.1.1/post", "192.168.1.1:80 is a private address"),
    ("http://127.0.0.1:6379/", "127.0.0.1:6379 is a loopback address"),
    ("http://localhost:6379/", "localhost is a loopback name"),
    ("http://[::1]/post", "[::1]:80 is a loopback address"),
    ("http://0.0.0.0/post", "0.0.0.0:80 is an unspecified address"),
    ("https://user:pass@buyer.example/post", "credentials in the URL (user:pass@) are refused"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_validate_names_file_key_and_reason(
    url: str, reason: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PINGTREE_BUYER_URL_ALLOW", DEMO_SIMULATOR)
    data = demo_data()
    data["campaigns"][2]["delivery"]["post"]["url"] = url
    path = tmp_path / "buyers.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    [line] = issue_lines(result.stderr)
    assert line.startswith(f"{path}: campaigns[2].delivery.post.url: {reason}"), line


def test_the_allowlist_setting_lets_a_named_destination_through(cli: Cli) -> None:
    data = demo_data()
    data["campaigns"][2]["delivery"]["post"]["url"] = "http://10.0.0.5:8080/post"
    path = cli.write(data)
    assert cli("apply", path).exit_code == 1
    assert ("campaigns", data["campaigns"][2]["name"]) not in cli.rows()
    allowed = CliRunner().invoke(
        app, ["apply", path], env={"PINGTREE_BUYER_URL_ALLOW": f"{DEMO_SIMULATOR},10.0.0.5:8080"}
    )
    assert allowed.exit_code == 0, allowed.output


def test_the_demo_allows_its_simulator_port() -> None:
    sim = SimulatorConfig(host="127.0.0.1", port=9100)
    assert _with_simulator("", sim) == "127.0.0.1:9100"
    assert _with_simulator("10.0.0.0/8", sim) == "10.0.0.0/8,127.0.0.1:9100"
