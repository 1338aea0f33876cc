"""An editor's form and the resource it edits: the same nested data, named by path.

Every input is named by its path inside the resource, as the validator names problems
(`caps.daily`, `filters[0].values`, `tiers[1].campaigns[0].weight`), so a problem is shown
beside the input it is about. A suffix says how to read the text:

- `:bool`  a checkbox (a hidden "false" before it, the box's "true" after);
- `:list`  several values: checked boxes, or one text split at commas and new lines;
- `:yaml`  a YAML block (delivery, screening policy);
- `:json`  a hidden JSON object of settings the form does not show, kept as they were.

Blank inputs are left out, so the model's defaults apply; blank rows are dropped. Names
starting with `_` (the button pressed, the version the editor started from) and `csrf` are
the editor's own.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

_PART = re.compile(r"\[(\d+)\]|([^.\[\]]+)")
EXTRA = "_extra"
"""A row's settings the form does not show (a `:json` input), merged back into the row."""


@dataclass
class Parsed:
    """The data a form holds, and the inputs that could not be read (path -> why)."""

    data: dict[str, Any]
    problems: dict[str, list[str]] = field(default_factory=dict)


def parts(path: str) -> list[str | int]:
    """'tiers[1].campaigns[0].weight' -> ['tiers', 1, 'campaigns', 0, 'weight']."""
    return [int(index) if index else key for index, key in _PART.findall(path)]


def join(parts_: Iterable[str | int]) -> str:
    """The inverse of parts()."""
    out = ""
    for part in parts_:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def parse_form(items: Iterable[tuple[str, str]]) -> Parsed:
    """The nested data of a posted form."""
    grouped: dict[str, list[str]] = {}
    for name, value in items:
        if (name.startswith("_") and not name.startswith(EXTRA)) or name == "csrf":
            continue
        grouped.setdefault(name, []).append(value)
    tree: dict[str, Any] = {}
    problems: dict[str, list[str]] = {}
    for name, values in grouped.items():
        path, _, kind = name.partition(":")
        try:
            value = _read(kind, values)
        except ValueError as exc:
            problems.setdefault(path, []).append(str(exc))
            continue
        if value is not None:
            _put(tree, parts(path), _Leaf(value) if kind in ("yaml", "json") else value)
    data = _finish(tree)
    return Parsed(data if isinstance(data, dict) else {}, problems)


def _read(kind: str, values: list[str]) -> Any:
    last = values[-1].strip() if values else ""
    if kind == "bool":
        return last.lower() in ("true", "on", "1", "yes")
    if kind == "list":
        if len(values) > 1:
            items = [v.strip() for v in values]
        else:
            items = [v.strip() for v in re.split(r"[,\n]", last)]
        items = [v for v in items if v]
        return items or None
    if kind == "yaml":
        if not last:
            return None
        try:
            loaded = yaml.safe_load(values[-1])
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            raise ValueError(f"not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
        return loaded
    if kind == "json":
        return json.loads(last) if last else None
    return last or None


def _put(tree: dict[Any, Any], path: list[str | int], value: Any) -> None:
    node: dict[Any, Any] = tree
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value


@dataclass(frozen=True)
class _Leaf:
    """A value read whole (YAML, JSON): kept as written, not taken apart as form rows."""

    value: Any


def _finish(node: Any) -> Any:
    """Int-keyed mappings become lists (in index order); empty rows and groups are dropped."""
    if isinstance(node, _Leaf):
        return node.value
    if not isinstance(node, dict):
        return node
    extra = _finish(node.pop(EXTRA, None))
    done = {key: _finish(value) for key, value in node.items()}
    if isinstance(extra, dict):
        for key, value in extra.items():
            done.setdefault(key, value)
    if done and all(isinstance(key, int) for key in done):
        return [done[key] for key in sorted(done) if not _blank(done[key])]
    return {key: value for key, value in done.items() if not _empty(value)}


def _empty(value: Any) -> bool:
    return isinstance(value, dict | list) and not value


def _blank(row: Any) -> bool:
    """A row nobody filled in: nothing but unticked boxes."""
    if isinstance(row, dict):
        return all(value is False or _empty(value) for value in row.values())
    return row is None


# --- structural edits: add, remove and move rows -----------------------------------------


def act(data: dict[str, Any], action: str) -> dict[str, Any]:
    """The data after a row button: `add:tiers`, `remove:tiers[1]`, `up:...`, `down:...`."""
    verb, _, path = action.partition(":")
    data = copy.deepcopy(data)
    steps = parts(path)
    if verb == "add":
        _list_at(data, steps, create=True).append({})
        return data
    if verb not in ("remove", "up", "down") or not steps or not isinstance(steps[-1], int):
        return data
    rows = _list_at(data, steps[:-1], create=False)
    index = steps[-1]
    if not 0 <= index < len(rows):
        return data
    if verb == "remove":
        del rows[index]
    elif verb == "up" and index > 0:
        rows[index - 1], rows[index] = rows[index], rows[index - 1]
    elif verb == "down" and index < len(rows) - 1:
        rows[index + 1], rows[index] = rows[index], rows[index + 1]
    return data


def _list_at(data: dict[str, Any], steps: list[str | int], *, create: bool) -> list[Any]:
    node: Any = data
    for i, step in enumerate(steps):
        following: Any = [] if i == len(steps) - 1 else {}
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return []
            if not isinstance(node[step], dict | list):
                node[step] = following
            node = node[step]
            continue
        if not isinstance(node, dict):
            return []
        if not isinstance(node.get(step), dict | list):
            if not create:
                return []
            node[step] = following
        node = node[step]
    return node if isinstance(node, list) else []


# --- rendering helpers -------------------------------------------------------------------


def dig(data: Any, path: str, default: Any = "") -> Any:
    """The value at path in the data, or default."""
    node = data
    for part in parts(path):
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                return default
        elif not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def text(value: Any) -> str:
    """A value as an input shows it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(text(v) for v in value)
    return str(value)


def yaml_text(value: Any) -> str:
    """A block as a YAML textarea shows it (empty mappings left out; an empty list can mean
    something, as `ping_fields: []` does)."""
    value = _without_empty(value)
    if value in (None, {}, []):
        return ""
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, width=88)


def _without_empty(value: Any) -> Any:
    if isinstance(value, dict):
        kept = {k: _without_empty(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v != {}}
    if isinstance(value, list):
        return [_without_empty(v) for v in value]
    return value


def extras(row: Any, shown: Iterable[str]) -> str:
    """The JSON of a row's settings the form does not show (for a hidden `:json` input)."""
    if not isinstance(row, dict):
        return ""
    rest = {key: value for key, value in row.items() if key not in set(shown)}
    return json.dumps(rest, sort_keys=True) if rest else ""


def input_id(path: str) -> str:
    """An element id for the input of a path."""
    return "f-" + re.sub(r"[^A-Za-z0-9_-]+", "-", path).strip("-")
