"""A lead told for a person: its fields in the vertical's order, screening as findings with
their effect, why each campaign was skipped, and everything in the order it happened."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pingtree.calls.repository import CallEvent
from pingtree.console.present import masked_phone, seconds
from pingtree.leads.schemas import Timeline
from pingtree.verticals.model import FieldSpec, FieldType, Vertical

SKIP_REASONS = {
    "inactive": "the campaign is paused",
    "channel": "a call to a campaign that buys no calls, or a form lead to one buying calls",
    "buyer_inactive": "the buyer is paused",
    "blocked": "the buyer may not have this person (do-not-contact list or bought lately)",
    "already_sold_to_buyer": "already sold to this buyer (a shared lead goes to a buyer once)",
    "filter": "a filter does not match",
    "schedule": "outside its schedule",
    "cap": "a cap is reached",
    "cap_reached": "a cap was reached while the lead was routed",
    "cap_unavailable": "the cap counter did not answer in time",
    "deadline": "the lead's maximum time ran out first",
    "no_bid": "the buyer did not bid",
    "below_floor": "the bid was under the floor",
    "late": "the bid came after the auction closed",
}
ACTIONS = {
    "reject": "rejects the lead",
    "review": "sends the lead to manual review",
    "score": "lowers the score",
}
VERDICTS = {
    "accept": "accepted for routing",
    "review": "held for manual review",
    "reject": "rejected",
}


@dataclass(frozen=True)
class FieldRow:
    """One field of the lead as the page shows it."""

    name: str
    value: str
    pii: bool = False
    known: bool = True
    """False: the vertical does not define it (any more)."""


def readable_value(value: Any, spec: FieldSpec | None = None) -> str:
    """A stored field value as a person reads it: Yes/No, numbers, blanks as a dash."""
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if spec is not None and spec.type is FieldType.BOOLEAN and isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "yes", "1"):
            return "Yes"
        if lowered in ("false", "no", "0"):
            return "No"
    if spec is not None and spec.type is FieldType.NUMBER:
        try:
            return f"{Decimal(str(value)):,}"
        except InvalidOperation:
            return str(value)
    if isinstance(value, list):
        return ", ".join(readable_value(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {readable_value(v)}" for k, v in value.items())
    return str(value)


def field_rows(vertical: Vertical | None, fields: dict[str, Any]) -> list[FieldRow]:
    """The lead's fields in its vertical's order; fields the vertical lacks come last."""
    rows: list[FieldRow] = []
    shown: set[str] = set()
    if vertical is not None:
        for spec in vertical.fields:
            if spec.name in fields:
                rows.append(FieldRow(spec.name, readable_value(fields[spec.name], spec), spec.pii))
                shown.add(spec.name)
    for name in sorted(set(fields) - shown):
        rows.append(FieldRow(name, readable_value(fields[name]), known=vertical is None))
    return rows


@dataclass(frozen=True)
class Finding:
    """One screening finding: what was found, on which field, and what it did."""

    code: str
    field: str
    message: str
    effect: str


@dataclass(frozen=True)
class ScreeningView:
    """A lead's screening as a list a person reads."""

    score: int | None
    verdict: str
    band: str | None
    findings: list[Finding]
    blocked: list[tuple[str, str]]


def screening_view(record: dict[str, Any] | None) -> ScreeningView | None:
    """The stored screening record, readable; None when the lead was not screened."""
    if not record:
        return None
    findings = []
    for item in record.get("findings") or []:
        if not isinstance(item, dict):
            continue
        action = str(item.get("action") or "score")
        effect = ACTIONS.get(action, action)
        penalty = item.get("penalty")
        if action == "score" and penalty:
            effect = f"−{penalty} points"
        elif penalty:
            effect = f"{effect} (−{penalty} points)"
        findings.append(
            Finding(
                code=str(item.get("code") or ""),
                field=str(item.get("field") or ""),
                message=str(item.get("message") or ""),
                effect=effect,
            )
        )
    verdict = str(record.get("verdict") or "accept")
    blocked = record.get("blocked_buyers") or {}
    return ScreeningView(
        score=record.get("score"),
        verdict=VERDICTS.get(verdict, verdict),
        band=record.get("band"),
        findings=findings,
        blocked=sorted((str(k), str(v)) for k, v in blocked.items()),
    )


def skip_reason(code: str) -> str:
    """A skip reason code in words."""
    return SKIP_REASONS.get(code, code.replace("_", " "))


@dataclass(frozen=True)
class Moment:
    """One thing that happened to the lead, at a time."""

    at: datetime | None
    what: str
    detail: str = ""
    tone: str = ""
    lead_id: str | None = None
    """A lead the moment names (a call's matched form lead), linked on the page."""


def moments(t: Timeline) -> list[Moment]:
    """Everything that happened to the lead, in order: received, each ping and post, sales,
    the answer."""
    out = [Moment(t.received_at, "received", f"from {t.publisher} ({t.vertical})")]
    screened = screening_view(t.screening)
    if screened is not None:
        score = f"score {screened.score}" if screened.score is not None else "no score"
        out.append(Moment(t.received_at, "screened", f"{score}: {screened.verdict}"))
    for a in t.attempts:
        price = f" at {a.price:,.2f}" if a.price is not None else ""
        detail = f"{a.campaign} ({a.buyer}): {a.outcome}{price}, {a.duration_ms:.0f} ms"
        if a.reason:
            detail += f" · {a.reason}"
        out.append(Moment(a.started_at, a.kind, detail, a.outcome))
    for s in t.sales:
        out.append(Moment(s.sold_at, "sold", f"to {s.buyer} ({s.campaign}) for {s.price:,.2f}"))
    if t.answered_at is not None:
        out.append(Moment(t.answered_at, "answered", t.status.value, t.status.value))
    return sorted(out, key=lambda m: (m.at is None, m.at or t.received_at))


DIAL_OUTCOMES = {
    "completed": "answered",
    "answered": "answered",
    "busy": "busy",
    "no-answer": "did not answer",
    "failed": "failed",
    "canceled": "canceled",
}


def call_moments(events: list[CallEvent]) -> list[Moment]:
    """A call's timeline, in the order it was stored, each step in words (the caller's number
    masked as on the calls list)."""
    return [_call_moment(e) for e in events]


def _call_moment(e: CallEvent) -> Moment:
    d = e.detail
    if e.kind == "incoming":
        number = d.get("number", "")
        return Moment(e.at, "incoming", f"from {masked_phone(d.get('caller'))} to {number}")
    if e.kind == "ivr":
        value = d.get("value")
        keys = d.get("keys") or "no keys"
        if value is None:
            return Moment(e.at, "IVR", f"{d.get('field')}: no answer (pressed {keys})", "rejected")
        return Moment(e.at, "IVR", f"{d.get('field')}: {readable_value(value)} (pressed {keys})")
    if e.kind == "matched":
        detail = "the caller's earlier form lead" + (
            f" ({d['vertical']})" if d.get("vertical") else ""
        )
        return Moment(e.at, "matched", detail, lead_id=d.get("lead_id"))
    if e.kind == "invalid":
        text = "left out as mistyped: " + ", ".join(str(f) for f in d.get("fields") or [])
        if d.get("detail"):
            text += f" · {d['detail']}"
        return Moment(e.at, "answer left out", text, "rejected")
    if e.kind == "dialed":
        status = str(d.get("dial_status", ""))
        text = f"{d.get('campaign')}: {DIAL_OUTCOMES.get(status, status)}"
        if d.get("connected_s"):
            text += f", connected {seconds(d['connected_s'])}"
        if d.get("caller_left"):
            text += " · the caller hung up"
        tone = "accepted" if status in ("completed", "answered") else "rejected"
        return Moment(e.at, "dialed", text, tone)
    if e.kind == "routed":
        if d.get("sold_to"):
            price = d.get("price")
            priced = f" for {Decimal(price):,.2f}" if price is not None else ""
            return Moment(e.at, "routed", f"put through to {d['sold_to']}{priced}", "sold")
        reasons = ", ".join(str(r).replace("_", " ") for r in d.get("reasons") or [])
        return Moment(e.at, "routed", "no buyer took it" + (f" ({reasons})" if reasons else ""))
    if e.kind == "status":
        text = str(d.get("call_status", ""))
        if d.get("duration_s") is not None:
            text += f", {seconds(d['duration_s'])} in all"
        if d.get("recording_url"):
            text += " · recorded"
        return Moment(e.at, "status", text)
    if e.kind == "ended":
        text = f"{d.get('status', '')}: {str(d.get('reason', '')).replace('_', ' ')}"
        if d.get("detail"):
            text += f" · {d['detail']}"
        return Moment(e.at, "ended", text, str(d.get("status", "")))
    return Moment(e.at, e.kind, ", ".join(f"{k}: {v}" for k, v in sorted(d.items())))
