"""YAML configuration files: load, validate, export, and the JSON Schema of the file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from pingtree.config.descriptions import DESCRIPTIONS
from pingtree.config.document import (
    KINDS,
    MODELS,
    ConfigDocument,
    Kind,
    destination_errors,
    reference_errors,
    resource_key,
    unknown_name,
)
from pingtree.config.errors import (
    ConfigError,
    ConfigIssue,
    did_you_mean,
    issues_from_validation,
)
from pingtree.config.positions import Loaded, load_yaml
from pingtree.credentials.at_rest import redact_document
from pingtree.delivery.destinations import Allowlist

STRICT = Allowlist()
"""No private, loopback or link-local buyer destination allowed."""


def parse_document(
    data: Any,
    *,
    file: str | None = None,
    references: bool = True,
    allow: Allowlist | None = STRICT,
    loaded: Loaded | None = None,
) -> ConfigDocument:
    """A validated document from parsed YAML/JSON, or ConfigError naming every problem.

    Schema and reference problems are found in one pass: the resources that are valid on
    their own are checked for references even when others are not.
    references=False leaves out the cross-reference check (a partial file applied with
    --keep is checked together with the stored configuration instead). allow: the buyer
    destinations allowed although private (Settings.buyer_allowlist); None skips the check.
    loaded: the YAML nodes, to give each problem its line and column.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([ConfigIssue("", "the file must be a mapping of resource lists", file)])
    # Top-level x-* keys hold YAML anchors shared by resources; they are not resources.
    data = {k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith("x-"))}
    issues: list[ConfigIssue] = []
    positions: dict[str, list[int]] = {}
    invalid: dict[str, set[str]] = {}
    try:
        document = ConfigDocument.model_validate(data)
    except ValidationError as exc:
        issues = issues_from_validation(exc, file=file, model=ConfigDocument)
        document, positions, invalid = _valid_part(data)
    problems = reference_errors(document, invalid=invalid) if references else []
    if allow is not None:
        problems += destination_errors(document, allow)
    issues += [ConfigIssue(_renumber(path, positions), why, file) for path, why in problems]
    if references and positions:  # the schema check failed: the invalid ones' references
        issues += [
            ConfigIssue(p, why, file) for p, why in _raw_reference_errors(data, document, invalid)
        ]
    if issues:
        if loaded is not None:
            placed = [_placed(issue, loaded) for issue in issues]
            issues = sorted(placed, key=lambda i: (i.line or 0, i.column or 0))
        raise ConfigError(issues)
    return document


def _valid_part(
    data: dict[str, Any],
) -> tuple[ConfigDocument, dict[str, list[int]], dict[str, set[str]]]:
    """The resources valid on their own, their positions in the file, the invalid ones' names.

    Lets the reference check run beside the schema check; a reference to a resource that
    is present but invalid is not reported again as unknown.
    """
    kept: dict[str, Any] = {}
    positions: dict[str, list[int]] = {}
    invalid: dict[str, set[str]] = {}
    for kind in KINDS:
        items = data.get(kind)
        kept[kind], positions[kind], invalid[kind] = [], [], set()
        for i, item in enumerate(items if isinstance(items, list) else []):
            try:
                kept[kind].append(MODELS[kind].model_validate(item))
                positions[kind].append(i)
            except ValidationError:
                if isinstance(item, dict) and isinstance(item.get("name"), str):
                    invalid[kind].add(item["name"])
    return ConfigDocument.model_construct(**kept), positions, invalid


_REFERENCES: dict[Kind, tuple[tuple[str, Kind], ...]] = {
    "campaigns": (("buyer", "buyers"), ("vertical", "verticals")),
    "trees": (("vertical", "verticals"),),
    "routes": (("publisher", "publishers"), ("vertical", "verticals"), ("tree", "trees")),
}


def _raw_reference_errors(
    data: dict[str, Any], valid: ConfigDocument, invalid: dict[str, set[str]]
) -> list[tuple[str, str]]:
    """References made by the resources that failed the schema check (so not in `valid`).

    Their own problems are reported already; this adds what they name that does not exist,
    so one run shows both. Paths here are file positions (not renumbered).
    """
    names = {
        kind: {resource_key(kind, item) for item in getattr(valid, kind)} | invalid.get(kind, set())
        for kind in KINDS
    }
    fields = {v.name: [f.name for f in v.fields] for v in valid.verticals}
    errors: list[tuple[str, str]] = []
    for kind, refs in _REFERENCES.items():
        items = data.get(kind)
        for i, item in enumerate(items if isinstance(items, list) else []):
            if not isinstance(item, dict) or _is_valid(kind, item):
                continue
            for key, target in refs:
                name = item.get(key)
                if isinstance(name, str) and name not in names[target]:
                    errors.append(
                        (f"{kind}[{i}].{key}", unknown_name(target[:-1], name, names[target]))
                    )
            if kind == "campaigns" and item.get("vertical") in fields:
                known = fields[item["vertical"]]
                filters = item.get("filters")
                for j, flt in enumerate(filters if isinstance(filters, list) else []):
                    name = flt.get("field") if isinstance(flt, dict) else None
                    if isinstance(name, str) and name not in known:
                        errors.append(
                            (
                                f"campaigns[{i}].filters[{j}].field",
                                f"vertical {item['vertical']!r} has no field {name!r}"
                                + did_you_mean(name, known),
                            )
                        )
    return errors


def _is_valid(kind: Kind, item: dict[str, Any]) -> bool:
    try:
        MODELS[kind].model_validate(item)
    except ValidationError:
        return False
    return True


_LEADING = re.compile(r"^([a-z]+)\[(\d+)\]")


def _renumber(path: str, positions: dict[str, list[int]]) -> str:
    """A path in the valid part ('trees[0]...') as the same resource's path in the file."""
    found = _LEADING.match(path)
    if found is None or found[1] not in positions:
        return path
    return f"{found[1]}[{positions[found[1]][int(found[2])]}]{path[found.end() :]}"


def _placed(issue: ConfigIssue, loaded: Loaded) -> ConfigIssue:
    at = loaded.position(issue.path)
    if at is None:
        return issue
    return ConfigIssue(issue.path, issue.reason, issue.file, at[0], at[1])


def load_file(
    path: Path, *, references: bool = True, allow: Allowlist | None = STRICT
) -> ConfigDocument:
    """Read and validate a configuration file."""
    name = str(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError([ConfigIssue("", f"cannot read: {exc.strerror}", name)]) from None
    try:
        loaded = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        issue = ConfigIssue("", f"not valid YAML: {problem}", name, line, column)
        raise ConfigError([issue]) from None
    return parse_document(loaded.data, file=name, references=references, allow=allow, loaded=loaded)


def dump_document(document: ConfigDocument) -> str:
    """The document as YAML, as `pingtree export` prints it (no plain API key or secret)."""
    data = document.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    for party in [*data.get("publishers", []), *data.get("buyers", [])]:
        party.pop("api_key", None)
    data = redact_document(data)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a configuration file."""
    schema = ConfigDocument.model_json_schema(mode="validation")
    schema["title"] = "pingtree configuration"
    # Like parse_document, allow top-level x-* keys (YAML anchors shared by resources).
    schema["patternProperties"] = {"^x-": {}}
    _describe(schema.get("properties", {}), "ConfigDocument")
    for name, definition in schema.get("$defs", {}).items():
        _describe(definition.get("properties", {}), name)
    return schema


def _describe(properties: dict[str, Any], model: str) -> None:
    for key, prop in properties.items():
        if isinstance(prop, dict) and not prop.get("description"):
            text = DESCRIPTIONS.get(f"{model}.{key}")
            if text:
                prop["description"] = text
