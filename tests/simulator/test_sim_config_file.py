"""Loading the simulator configuration from YAML."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from pingtree.simulator import SimulatorConfigError, load_config

GOOD = """\
port: 0
buyers:
  - name: acme
    bid_min: 5
    bid_max: 12.5
    accept_rate: 0.8
    respond_as: xml
    redirect_url: https://acme.example/thanks
  - name: slowco
    bid_min: 1.00
    bid_max: 2.00
    latency_ms_min: 100
    latency_ms_max: 400
    seed: 3
  - name: callco
    bid_min: 20
    bid_max: 40
    dial: sip:agents@callco.example
    min_duration_s: 90
    bid_expires_s: 30
    available_rate: 0.8
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "buyers.yaml"
    path.write_text(text)
    return path


def test_good_file_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.port == 0
    assert [b.name for b in config.buyers] == ["acme", "slowco", "callco"]
    assert config.buyers[0].bid_max == Decimal("12.5")
    assert config.buyers[0].respond_as == "xml"
    assert config.buyers[1].seed == 3
    calls = config.buyers[2]
    assert (calls.dial, calls.min_duration_s, calls.bid_expires_s) == (
        "sip:agents@callco.example",
        90,
        30,
    )
    assert (calls.available, calls.available_rate) == (True, 0.8)


def test_bad_value_names_file_key_path_and_reason(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("seed: 3", "seed: 3\n    accept_rate: 1.7"))
    with pytest.raises(SimulatorConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message
    assert "buyers[1].accept_rate" in message
    assert "less than or equal to 1" in message


def test_unknown_key_lists_accepted_keys(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("accept_rate: 0.8", "acept_rate: 0.8"))
    with pytest.raises(SimulatorConfigError, match=r"buyers\[0\]\.acept_rate: unknown key") as e:
        load_config(path)
    assert "accept_rate" in str(e.value).split("accepted keys are", 1)[1]


def test_cross_field_rule_names_the_buyer(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("bid_min: 5", "bid_min: 50"))
    with pytest.raises(SimulatorConfigError, match=r"buyers\[0\]: bid_min \(50\) must be <="):
        load_config(path)


def test_missing_required_key(tmp_path: Path) -> None:
    path = write(tmp_path, "buyers:\n  - name: acme\n    bid_min: 1\n")
    with pytest.raises(SimulatorConfigError, match=r"buyers\[0\]\.bid_max: Field required"):
        load_config(path)


def test_yaml_syntax_error_gives_line(tmp_path: Path) -> None:
    path = write(tmp_path, "buyers:\n  - name: [acme\n")
    with pytest.raises(SimulatorConfigError, match=r"buyers\.yaml: not valid YAML: .* line \d+"):
        load_config(path)


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(SimulatorConfigError, match=r"\(top level\): expected a mapping"):
        load_config(write(tmp_path, "- name: acme\n"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SimulatorConfigError, match=r"nothere\.yaml: cannot read file"):
        load_config(tmp_path / "nothere.yaml")
