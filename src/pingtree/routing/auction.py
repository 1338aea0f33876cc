"""The auction window: how long a parallel or ping_post tier waits for bids.

A bidder that never answers must not hold the tier past the time the post needs: when the
window closes, the bids in hand are ranked and the pings still out are cancelled as late.
"""

from __future__ import annotations

from collections.abc import Iterable

BIDDING_SHARE = 0.5
"""The share of the time left that bids always get, however long the post timeouts are."""


def auction_window(
    *, time_left: float, configured_ms: int | None, post_timeouts: Iterable[float]
) -> float:
    """Seconds a tier waits for bids, never more than the time left.

    configured_ms: the tier's `auction_ms`, used as set. Otherwise the window keeps one full
    post timeout (the longest of the tier's campaigns) for the post; when that leaves bids
    less than half of the time left, bids and posts get half each. With nothing to post
    (an inbound ping, posted later), the bids may take all the time left.
    """
    if time_left <= 0:
        return 0.0
    if configured_ms is not None:
        return min(configured_ms / 1000, time_left)
    post_needs = max(post_timeouts, default=0.0)
    return min(time_left, max(time_left - post_needs, time_left * BIDDING_SHARE))
