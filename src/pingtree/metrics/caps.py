"""Cap fill per campaign and period, read from the ledger's in-process view when scraped.

Nothing is kept up to date on the hot path: the view is the one eligibility reads (updated
by every hold and by each housekeeping refresh), turned into gauges at scrape time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from decimal import Decimal

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pingtree.buyers.model import Campaign
from pingtree.sales.windows import cap_windows

Seen = Callable[[tuple[str, str, str]], tuple[int, Decimal]]
"""The ledger's view: (count, amount) of a (campaign, period, window)."""


class CapFill(Collector):
    """pingtree_cap_count, pingtree_cap_limit and pingtree_cap_fill (count / cap)."""

    def __init__(
        self,
        campaigns: Callable[[], Iterable[Campaign]],
        seen: Seen,
        now: Callable[[], datetime],
    ) -> None:
        self._campaigns = campaigns
        self._seen = seen
        self._now = now

    def collect(self) -> Iterator[Metric]:
        labels = ["campaign", "period"]
        count = GaugeMetricFamily(
            "pingtree_cap_count", "Leads counted in the current cap window", labels=labels
        )
        limit = GaugeMetricFamily("pingtree_cap_limit", "The cap of the window", labels=labels)
        fill = GaugeMetricFamily(
            "pingtree_cap_fill", "Share of the cap taken (count / cap)", labels=labels
        )
        now = self._now()
        for campaign in self._campaigns():
            windows = dict(cap_windows(campaign, now))
            for period, cap, _budget in campaign.caps.limits():
                if cap is None:
                    continue
                taken, _amount = self._seen((campaign.name, period, windows[period]))
                count.add_metric([campaign.name, period], taken)
                limit.add_metric([campaign.name, period], cap)
                fill.add_metric([campaign.name, period], taken / cap if cap else 1.0)
        yield from (count, limit, fill)
