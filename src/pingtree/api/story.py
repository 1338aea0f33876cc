"""A lead's whole story for operators: its timeline, and its money (ledger entries, returns,
postbacks with every try)."""

from __future__ import annotations

from pydantic import Field

from pingtree.calls import repository as calls_repository
from pingtree.calls.schemas import CallOut
from pingtree.leads.schemas import Timeline
from pingtree.ledger import entries
from pingtree.ledger.schemas import EntryOut
from pingtree.postbacks import queue
from pingtree.postbacks.schemas import PostbackOut
from pingtree.returns import service as returns
from pingtree.returns.schemas import OperatorReturnOut
from pingtree.runtime import Runtime


class LeadStory(Timeline):
    """Everything about one lead, money included."""

    ledger: list[EntryOut] = Field(
        default_factory=list, description="sales, payouts, returns, clawbacks (oldest first)"
    )
    returns: list[OperatorReturnOut] = Field(default_factory=list)
    postbacks: list[PostbackOut] = Field(default_factory=list)
    calls: list[CallOut] = Field(
        default_factory=list,
        description="calls linked to the lead: the call it is, or later calls of its person",
    )


async def story(rt: Runtime, timeline: Timeline) -> LeadStory:
    """The timeline with the lead's money."""
    async with rt.engine.connect() as conn:
        booked = await entries.read(conn, lead_id=timeline.lead_id)
        asked = await returns.listed(conn, lead_id=timeline.lead_id)
        called = await queue.listed(conn, lead_id=timeline.lead_id)
        linked = await calls_repository.calls_of_lead(conn, timeline.lead_id)
    return LeadStory(
        **timeline.model_dump(),
        ledger=[EntryOut.model_validate(e, from_attributes=True) for e in reversed(booked)],
        returns=[OperatorReturnOut.model_validate(r, from_attributes=True) for r in asked],
        postbacks=[PostbackOut.model_validate(p) for p in reversed(called)],
        calls=[CallOut.of(c) for c in linked],
    )
