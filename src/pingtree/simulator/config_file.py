"""Read a simulator configuration from YAML, with errors that say where and why."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from pingtree.simulator.behaviour import ScriptedAnswer, SimBuyer, SimulatorConfig


class SimulatorConfigError(ValueError):
    """A simulator configuration file that cannot be used; the message names file, key, reason."""


def load_config(path: str | Path) -> SimulatorConfig:
    """Load and validate a simulator YAML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SimulatorConfigError(f"{path}: cannot read file: {exc}") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SimulatorConfigError(f"{path}: not valid YAML: {_yaml_reason(exc)}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SimulatorConfigError(
            f"{path}: (top level): expected a mapping with keys "
            f"{_keys(SimulatorConfig)}, got {type(raw).__name__}"
        )
    try:
        return SimulatorConfig.model_validate(raw)
    except ValidationError as exc:
        lines = [f"{path}: {key_path(err['loc'])}: {_reason(err)}" for err in exc.errors()]
        raise SimulatorConfigError("\n".join(lines)) from exc


def key_path(loc: tuple[int | str, ...]) -> str:
    """Render a Pydantic error location as a YAML key path, e.g. ``buyers[1].accept_rate``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


def _reason(err: ErrorDetails) -> str:
    if err["type"] == "extra_forbidden":
        model: type[BaseModel] = SimulatorConfig
        if err["loc"][:1] == ("buyers",):
            model = ScriptedAnswer if "scripted" in err["loc"][:-1] else SimBuyer
        return f"unknown key; accepted keys are {_keys(model)}"
    msg = err["msg"]
    # Pydantic prefixes our own validator messages; the prefix adds nothing for a reader.
    return msg.removeprefix("Value error, ")


def _keys(model: type[BaseModel]) -> str:
    return ", ".join(model.model_fields)


def _yaml_reason(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is not None:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    return str(problem)
