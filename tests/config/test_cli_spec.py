"""`pingtree spec PUBLISHER [--vertical V]` prints the posting spec from the configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pingtree.cli import app
from tests.config.conftest import DEMO


@pytest.fixture(autouse=True)
def _settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PINGTREE_DATA_DIR", str(tmp_path / "data"))


def test_spec_from_a_file() -> None:
    result = CliRunner().invoke(
        app, ["spec", "demo-publisher", "--vertical", "auto-insurance", "--config", str(DEMO)]
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("# Posting specification for demo-publisher\n")
    assert "| `vehicle_year` | integer | no | - | 1980 <= x <= 2027 | - | `2003` |" in out
    assert "`POST https://pingtree.example/api/v1/pings`" in out
    assert "| `rate_limited` | 429 |" in out


def test_unknown_publisher_or_vertical_is_refused() -> None:
    runner = CliRunner()
    nobody = runner.invoke(app, ["spec", "nobody", "--config", str(DEMO)])
    assert nobody.exit_code == 1
    assert nobody.stderr.strip() == "no publisher 'nobody'"
    solar = runner.invoke(
        app, ["spec", "demo-publisher", "--vertical", "solar", "--config", str(DEMO)]
    )
    assert solar.exit_code == 1
    assert "has no route for vertical 'solar'" in solar.stderr
