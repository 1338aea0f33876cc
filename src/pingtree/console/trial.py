"""A campaign's delivery tried from its editor: the requests it would send, or a test lead.

Both use the campaign as the editor holds it (applied or not) and the machinery of
`pingtree buyers try` (delivery.trial): the same request builder as routing, the same
reading of the buyer's answer, printed the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import jinja2
from pydantic import ValidationError

from pingtree.buyers.model import Campaign, Endpoint
from pingtree.config.document import ConfigDocument
from pingtree.config.errors import issues_from_validation
from pingtree.console.changes import unmask
from pingtree.console.present import pretty
from pingtree.credentials import SecretResolver, SecretUnavailable
from pingtree.delivery.requests import build_request
from pingtree.delivery.trial import example_lead, format_step, send_test_lead
from pingtree.runtime import Runtime
from pingtree.verticals.model import Vertical
from pingtree.verticals.pii import ping_fields

LONGEST_TRIAL_S = 15.0
EXAMPLE_BID = "example-bid-id"


@dataclass
class TrialOutcome:
    """What a trial shows: each request (or exchange) as text, or why it could not run."""

    title: str
    lead: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    blocks: list[tuple[str, str]] = field(default_factory=list)
    outcome: str | None = None


def _campaign(
    document: ConfigDocument,
    state: dict[str, Any],
    stored: dict[str, Any] | None,
    lead_text: str,
    title: str,
) -> tuple[Campaign | None, Vertical | None, TrialOutcome]:
    trial = TrialOutcome(title)
    spec = unmask("campaigns", state, stored) if stored is not None else state
    try:
        campaign = Campaign.model_validate(spec)
    except ValidationError as exc:
        trial.problems = [str(issue) for issue in issues_from_validation(exc)]
        return None, None, trial
    vertical = next((v for v in document.verticals if v.name == campaign.vertical), None)
    if vertical is None:
        trial.problems = [f"vertical: no vertical {campaign.vertical!r}"]
        return None, None, trial
    if lead_text.strip():
        try:
            fields = json.loads(lead_text)
        except ValueError as exc:
            trial.problems = [f"test lead: not valid JSON: {exc}"]
            return None, None, trial
        if not isinstance(fields, dict):
            trial.problems = ['test lead: a JSON object of fields, e.g. {"zip": "10001"}']
            return None, None, trial
        trial.lead = fields
    else:
        trial.lead = example_lead(vertical)
    return campaign, vertical, trial


def preview_requests(
    rt: Runtime,
    document: ConfigDocument,
    state: dict[str, Any],
    stored: dict[str, Any] | None,
    lead_text: str,
) -> TrialOutcome:
    """The ping (non-PII fields) and post a live lead would be sent as; credentials masked."""
    campaign, vertical, trial = _campaign(
        document, state, stored, lead_text, "The requests a lead is sent as"
    )
    if campaign is None or vertical is None:
        return trial
    resolver = SecretResolver(rt.settings.secret_keys)
    delivery = campaign.delivery
    steps: list[tuple[str, Endpoint, dict[str, Any], str | None]] = []
    if delivery.ping is not None:
        carried = ping_fields(vertical, trial.lead, delivery.ping_fields)
        steps.append(("ping", delivery.ping, carried, None))
    bid = EXAMPLE_BID if delivery.ping is not None else None
    if delivery.post is not None:  # a call campaign's post is the dial
        steps.append(("post", delivery.post, trial.lead, bid))
    for kind, endpoint, fields, reference in steps:
        try:
            request = build_request(
                endpoint,
                auth=delivery.auth,
                fields=fields,
                lead_id="example-lead-id",
                bid_reference=reference,
                test=False,
                secrets=resolver.values(delivery.secrets),
                signing=delivery.signing,
                now=rt.clock.now(),
            )
        except SecretUnavailable as exc:
            trial.problems.append(f"{kind}: not built: {exc}")
            continue
        except (jinja2.TemplateError, ValueError, TypeError) as exc:
            trial.problems.append(f"{kind}: the template cannot be rendered: {exc}")
            continue
        record = request.for_record(20_000)
        head = [f"{record['method']} {record['url']}"]
        head += [f"{name}: {value}" for name, value in record["headers"].items()]
        trial.blocks.append((kind, "\n".join(head) + "\n\n" + pretty(record["body"])))
    return trial


async def send_test(
    rt: Runtime,
    document: ConfigDocument,
    state: dict[str, Any],
    stored: dict[str, Any] | None,
    lead_text: str,
) -> TrialOutcome:
    """Send a test lead as `pingtree buyers try` does and show how the rules read the answers."""
    campaign, vertical, trial = _campaign(
        document, state, stored, lead_text, "A test lead sent to the buyer"
    )
    if campaign is None or vertical is None:
        return trial
    timeout = min(
        timedelta(milliseconds=campaign.delivery.timeout_ms).total_seconds(), LONGEST_TRIAL_S
    )
    steps = await send_test_lead(
        campaign,
        vertical,
        trial.lead,
        timeout=timeout,
        allow=rt.settings.buyer_allowlist,
        secrets=SecretResolver(rt.settings.secret_keys),
    )
    for step in steps:
        lines = format_step(step, campaign)
        trial.blocks.append((step.kind, "\n".join(lines[1:])))
        trial.outcome = next(
            (line.removeprefix("outcome: ") for line in lines if line.startswith("outcome: ")),
            trial.outcome,
        )
    return trial
