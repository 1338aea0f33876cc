"""Answers that turn a lead away before it is stored, each with stable reason codes."""

from __future__ import annotations

from pingtree.leads.schemas import Reason


class IntakeRefused(Exception):
    """The lead cannot be taken: an HTTP status and the reasons, for the publisher."""

    def __init__(
        self, status_code: int, reasons: list[Reason], headers: dict[str, str] | None = None
    ) -> None:
        self.status_code = status_code
        self.reasons = reasons
        self.headers = headers or {}
        super().__init__("; ".join(f"{r.code}: {r.message}" for r in reasons))

    def in_words(self) -> str:
        """The reasons' messages, for a person (the console's notices)."""
        return "; ".join(r.message for r in self.reasons) or f"refused ({self.status_code})"


def refuse(status_code: int, code: str, message: str, field: str | None = None) -> IntakeRefused:
    """A refusal with one reason."""
    return IntakeRefused(status_code, [Reason(code=code, message=message, field=field)])


def too_many(code: str, message: str, retry_after: int) -> IntakeRefused:
    """A 429 saying when to come back (Retry-After, in seconds)."""
    return IntakeRefused(
        429,
        [Reason(code=code, message=f"{message}; retry after {retry_after} s")],
        headers={"Retry-After": str(retry_after)},
    )
