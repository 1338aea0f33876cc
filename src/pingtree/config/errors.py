"""Configuration errors that name the file, the path inside it and the reason."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

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

    def __str__(self) -> str:
        where = f"{self.file}: " if self.file else ""
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


def issues_from_validation(
    exc: ValidationError, *, file: str | None = None, prefix: str = ""
) -> list[ConfigIssue]:
    """Readable issues from a pydantic error, one per problem, duplicates folded."""
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
        if (path, reason) not in seen:
            seen.add((path, reason))
            issues.append(ConfigIssue(path=path, reason=reason, file=file))
    return issues
