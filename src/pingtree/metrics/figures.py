"""The engine's Prometheus figures, one CollectorRegistry per Runtime.

Recorded from the intake side once a lead is answered (never inside the routing core):
a handful of counter increments and one histogram observation per ping or post. Revenue
is a float counter in dollars for Prometheus only; money stays Decimal everywhere else.
Each server process counts its own figures (`serve --workers N`: scrape each worker, or
sum them in Prometheus).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

from pingtree.buyers.model import Campaign, Outcome
from pingtree.heap import Pauses
from pingtree.metrics.caps import CapFill, Seen
from pingtree.routing.model import RoutingResult

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0)
"""Seconds: ping and post deadlines are tens to hundreds of milliseconds."""
GC_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)
"""Seconds: a young collection takes well under a millisecond; a full one must stay short."""
FAILED = frozenset({Outcome.TIMEOUT, Outcome.ERROR})
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Figures:
    """The counters, histograms and gauges of one engine."""

    def __init__(
        self,
        *,
        campaigns: Callable[[], Iterable[Campaign]] | None = None,
        seen: Seen | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        reg = self.registry
        self.leads = Counter(
            "pingtree_leads", "Leads answered, by status", ["status"], registry=reg
        )
        self.sales = Counter(
            "pingtree_sales",
            "Leads sold, by buyer and campaign",
            ["buyer", "campaign"],
            registry=reg,
        )
        self.revenue = Counter(
            "pingtree_revenue_dollars",
            "Revenue of sales in dollars (a float: for figures only)",
            ["buyer", "campaign"],
            registry=reg,
        )
        self.latency = Histogram(
            "pingtree_buyer_request_seconds",
            "Ping and post round trips to buyers",
            ["buyer", "kind", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.failures = Counter(
            "pingtree_buyer_failures",
            "Pings and posts that timed out or failed",
            ["buyer", "kind", "outcome"],
            registry=reg,
        )
        self.deadline_missed = Counter(
            "pingtree_deadline_missed",
            "Leads answered after their tree's maximum processing time",
            ["tree"],
            registry=reg,
        )
        self.shed = Counter(
            "pingtree_leads_shed",
            "Leads refused 503 busy (too many in flight, loop late, stored too late)",
            ["reason"],
            registry=reg,
        )
        self.calls = Counter(
            "pingtree_calls",
            "Phone calls routed to their end, by status (completed: put through to a buyer; "
            "unsold; refused) and whether they converted",
            ["status", "converted"],
            registry=reg,
        )
        self.pauses = Pauses()  # started by the serving process only (pingtree.app)
        self.gc_pauses = Histogram(
            "pingtree_gc_pause_seconds",
            "Cyclic garbage collections (the event loop waits for each), by generation",
            ["generation"],
            buckets=GC_BUCKETS,
            registry=reg,
        )
        if campaigns is not None and seen is not None and now is not None:
            reg.register(CapFill(campaigns, seen, now))

    def lead_answered(self, status: str, result: RoutingResult | None = None) -> None:
        """Count a lead's answer, its sales and each of its pings and posts."""
        self._child(self.leads, status).inc()
        if result is None:
            return
        for sale in result.sales:
            self._child(self.sales, sale.buyer, sale.campaign).inc()
            self._child(self.revenue, sale.buyer, sale.campaign).inc(float(sale.price))
        for attempt in result.attempts:
            answer = attempt.answer
            labels = (attempt.buyer, attempt.kind, answer.reading.outcome.value)
            self._child(self.latency, *labels).observe(answer.duration_ms / 1000)
            if answer.reading.outcome in FAILED:
                self._child(self.failures, *labels).inc()

    def _child(self, metric: Any, *labels: str) -> Any:
        # labels() takes a lock and builds keys on every call: the hot path asks a dict.
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def call_routed(self, status: str, converted: bool) -> None:
        """A call's routing ended (its dials and pings count as the lead's posts and pings)."""
        self._child(self.calls, status, "yes" if converted else "no").inc()

    def missed_deadline(self, tree: str) -> None:
        """A lead answered after its tree's maximum processing time."""
        self.deadline_missed.labels(tree).inc()

    def shed_lead(self, reason: str) -> None:
        """A lead refused 503 busy."""
        self.shed.labels(reason).inc()


def render(figures: Figures) -> tuple[bytes, str]:
    """The text exposition of a registry and its content type."""
    for generation, seconds in figures.pauses.drain():
        figures.gc_pauses.labels(str(generation)).observe(seconds)
    return generate_latest(figures.registry), CONTENT_TYPE
