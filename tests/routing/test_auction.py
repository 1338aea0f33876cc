"""The auction window rule: bids never take the time the post needs."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pingtree.routing.auction import auction_window
from pingtree.routing.model import Tier


def test_a_post_timeout_longer_than_the_tree_leaves_half_for_the_post() -> None:
    # The case: a 3000 ms tree, every campaign at the default 3000 ms timeout.
    window = auction_window(time_left=2.96, configured_ms=None, post_timeouts=[3.0, 3.0])
    assert window == pytest.approx(1.48)


def test_a_short_post_timeout_is_kept_whole_and_the_rest_goes_to_bids() -> None:
    window = auction_window(time_left=5.0, configured_ms=None, post_timeouts=[1.0, 0.5])
    assert window == pytest.approx(4.0)


def test_nothing_to_post_lets_bids_take_the_time_left() -> None:
    assert auction_window(time_left=2.0, configured_ms=None, post_timeouts=[]) == 2.0


def test_a_configured_window_is_used_but_never_past_the_time_left() -> None:
    assert auction_window(time_left=2.0, configured_ms=300, post_timeouts=[3.0]) == 0.3
    assert auction_window(time_left=0.2, configured_ms=300, post_timeouts=[3.0]) == 0.2


def test_no_time_left_is_no_window() -> None:
    assert auction_window(time_left=-0.1, configured_ms=None, post_timeouts=[1.0]) == 0.0


def test_auction_ms_is_refused_on_a_tier_without_an_auction() -> None:
    with pytest.raises(ValidationError, match="auction_ms applies to parallel and ping_post"):
        Tier.model_validate(
            {"name": "t", "flow": "priority", "auction_ms": 500, "campaigns": [{"campaign": "a"}]}
        )
    tier = Tier.model_validate(
        {"name": "t", "flow": "ping_post", "auction_ms": 500, "campaigns": [{"campaign": "a"}]}
    )
    assert tier.auction_ms == 500
