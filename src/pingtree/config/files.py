"""YAML configuration files: load, validate, export, and the JSON Schema of the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from pingtree.config.document import ConfigDocument, destination_errors, reference_errors
from pingtree.config.errors import ConfigError, ConfigIssue, issues_from_validation
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
) -> ConfigDocument:
    """A validated document from parsed YAML/JSON, or ConfigError naming every problem.

    references=False leaves out the cross-reference check (a partial file applied with
    --keep is checked together with the stored configuration instead). allow: the buyer
    destinations allowed although private (Settings.buyer_allowlist); None skips the check.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([ConfigIssue("", "the file must be a mapping of resource lists", file)])
    # Top-level x-* keys hold YAML anchors shared by resources; they are not resources.
    data = {k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith("x-"))}
    try:
        document = ConfigDocument.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(issues_from_validation(exc, file=file)) from None
    problems = reference_errors(document) if references else []
    if allow is not None:
        problems += destination_errors(document, allow)
    if problems:
        raise ConfigError([ConfigIssue(path, reason, file) for path, reason in problems])
    return document


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
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([ConfigIssue(where, f"not valid YAML: {problem}", name)]) from None
    return parse_document(data, file=name, references=references, allow=allow)


def dump_document(document: ConfigDocument) -> str:
    """The document as YAML, as `pingtree export` prints it (no plain API key or secret)."""
    data = document.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    for publisher in data.get("publishers", []):
        publisher.pop("api_key", None)
    data = redact_document(data)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a configuration file."""
    schema = ConfigDocument.model_json_schema(mode="validation")
    schema["title"] = "pingtree configuration"
    # Like parse_document, allow top-level x-* keys (YAML anchors shared by resources).
    schema["patternProperties"] = {"^x-": {}}
    return schema
