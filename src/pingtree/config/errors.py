"""Configuration errors that name the file, the path inside it and the reason."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel, ValidationError

_SHORT = {
    "greater_than": "must be > {gt}",
    "greater_than_equal": "must be >= {ge}",
    "less_than": "must be < {lt}",
    "less_than_equal": "must be <= {le}",
    "missing": "is required",
    "extra_forbidden": "is not a known key",
    "string_pattern_mismatch": "must match {pattern}",
    "too_short": "must have at least {min_length} item(s)",
    "literal_error": "must be one of {expected}",
    "enum": "must be one of {expected}",
    "decimal_max_places": "must have at most {decimal_places} decimal places",
}


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a configuration: where and why."""

    path: str
    reason: str
    file: str | None = None
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        """`file:line:column: path: reason`, as compilers write it (line and column 1-based)."""
        where = ""
        if self.file:
            at = f":{self.line}:{self.column}" if self.line is not None else ""
            where = f"{self.file}{at}: "
        if not self.path and self.line is not None:
            return f"{where}{self.reason}"
        return f"{where}{self.path or '(top level)'}: {self.reason}"


class ConfigError(Exception):
    """A configuration that cannot be applied, with every problem found."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


def format_loc(loc: tuple[int | str, ...]) -> str:
    """('campaigns', 3, 'caps', 'daily') -> 'campaigns[3].caps.daily'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif "[" in part or part in ("str", "int", "decimal", "bool", "float", "none"):
            # pydantic names union members in the path; they are not keys of the file
            continue
        else:
            out += f".{part}" if out else part
    return out


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest known name, or ''."""
    close = difflib.get_close_matches(name, sorted(set(known)), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def known_keys(model: type[BaseModel], loc: tuple[int | str, ...]) -> set[str]:
    """The keys allowed in the mapping at loc (the pydantic error location of a key in it).

    Follows fields through Optional, unions, lists and dicts; parts that are no field (the
    union member names pydantic puts in a location) are stepped over.
    """
    current: list[type[BaseModel]] = [model]
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        following: list[type[BaseModel]] = []
        for m in current:
            info = m.model_fields.get(part)
            if info is None:
                info = next((f for f in m.model_fields.values() if f.alias == part), None)
            if info is not None:
                following += _models_in(info.annotation)
        current = following or current
    keys: set[str] = set()
    for m in current:
        for name, info in m.model_fields.items():
            keys.add(info.alias or name)
    return keys


def _models_in(annotation: object) -> list[type[BaseModel]]:
    """The pydantic models an annotation may hold (in unions, lists, dict values)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _models_in(args[0])
    if origin is dict:
        return _models_in(args[1]) if len(args) == 2 else []
    if origin in (list, tuple, set, frozenset, typing.Union, types.UnionType):
        return [m for a in args for m in _models_in(a)]
    return []


def issues_from_validation(
    exc: ValidationError,
    *,
    file: str | None = None,
    prefix: str = "",
    model: type[BaseModel] | None = None,
) -> list[ConfigIssue]:
    """Readable issues from a pydantic error, one per problem, duplicates folded.

    model: the model validated; an unknown key then gets the closest known one suggested.
    """
    seen: set[tuple[str, str]] = set()
    issues: list[ConfigIssue] = []
    for err in exc.errors(include_url=False):
        path = format_loc(tuple(err["loc"]))
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        template = _SHORT.get(err["type"])
        ctx = err.get("ctx") or {}
        try:
            reason = template.format(**ctx) if template else err["msg"]
        except KeyError:
            reason = err["msg"]
        reason = reason.removeprefix("Value error, ")
        loc = tuple(err["loc"])
        if err["type"] == "extra_forbidden" and model is not None and loc:
            reason += did_you_mean(str(loc[-1]), known_keys(model, loc))
        if (path, reason) not in seen:
            seen.add((path, reason))
            issues.append(ConfigIssue(path=path, reason=reason, file=file))
    return issues
