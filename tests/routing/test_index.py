"""The tier index rules out exactly the campaigns the one-by-one check rules out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pingtree.buyers.model import Buyer, Campaign
from pingtree.routing.eligibility import CompiledCampaign, LeadView, eligible
from pingtree.routing.index import TierIndex, positions
from pingtree.routing.model import TierCampaign

STATES = ["CA", "NY", "TX", "FL", "WA"]
NUMERIC_FIELDS = frozenset({"age"})
POST = {
    "post": {
        "url": "http://127.0.0.1:9/post",
        "response": {"rules": [{"source": "status", "equals": "200", "outcome": "accepted"}]},
    }
}

filters = st.one_of(
    st.builds(
        lambda v: {"field": "state", "op": "in", "values": v},
        st.lists(st.sampled_from(STATES), min_size=1, max_size=3),
    ),
    st.builds(
        lambda v: {"field": "state", "op": "not_in", "values": v},
        st.lists(st.sampled_from(STATES), min_size=1, max_size=2),
    ),
    st.builds(lambda v: {"field": "state", "op": "equals", "value": v}, st.sampled_from(STATES)),
    st.builds(
        lambda v: {"field": "credit", "op": "equals", "value": v}, st.sampled_from(["good", "fair"])
    ),
    st.builds(lambda v: {"field": "age", "op": "equals", "value": v}, st.integers(18, 22)),
    st.builds(
        lambda lo, span: {"field": "age", "op": "range", "min": lo, "max": lo + span},
        st.integers(18, 60),
        st.integers(0, 30),
    ),
    st.builds(lambda hi: {"field": "age", "op": "range", "max": hi}, st.integers(18, 60)),
    st.builds(
        lambda v: {"field": "zip", "op": "zip_list", "values": v},
        st.lists(st.sampled_from(["100", "10001", "900", "90210", "606"]), min_size=1, max_size=3),
    ),
    st.builds(
        lambda p: {"field": "credit", "op": "regex", "pattern": p},
        st.sampled_from(["^g", "ai", "^(good|fair)$"]),
    ),
    st.builds(lambda w: {"field": "credit", "op": "exists", "value": w}, st.booleans()),
    # numbers compare as numbers on the numeric field age, as text on the text field code
    st.builds(
        lambda v: {"field": "age", "op": "in", "values": v},
        st.lists(st.sampled_from([20, "20", "021", 22.0, "x", "9"]), min_size=1, max_size=3),
    ),
    st.builds(
        lambda v: {"field": "age", "op": "not_in", "values": v},
        st.lists(st.sampled_from([20, "021", "x"]), min_size=1, max_size=2),
    ),
    st.builds(
        lambda v: {"field": "age", "op": "equals", "value": v}, st.sampled_from(["020", "x"])
    ),
    st.builds(
        lambda v: {"field": "code", "op": "in", "values": v},
        st.lists(st.sampled_from(["01", "1", "A1", "a1"]), min_size=1, max_size=2),
    ),
    st.builds(
        lambda p: {"field": "credit", "op": "regex", "pattern": p}, st.sampled_from(["^G", "AI"])
    ),
    st.builds(
        lambda z, m: {"field": "zip", "op": "near", "near": {"zip": z, "miles": m}},
        st.sampled_from(["10001", "90012"]),
        st.sampled_from([1, 5, 50]),
    ),
)
campaign_specs = st.lists(
    st.tuples(st.lists(filters, max_size=4), st.booleans(), st.booleans()), min_size=16, max_size=40
)
leads = st.fixed_dictionaries(
    {},
    optional={
        "state": st.sampled_from([*STATES, "ny", "OR"]),
        "age": st.one_of(
            st.integers(15, 95), st.sampled_from(["20", "20.0", "x", "X", "021", "9", "09"])
        ),
        "zip": st.sampled_from(["10001", "10002", "90210", "60601", "00501", "92101", "1000"]),
        "credit": st.sampled_from(["good", "fair", "poor", "", "GOOD", "Fair"]),
        "code": st.sampled_from(["01", "1", "A1", "a1", 1]),
    },
)


def _campaigns(
    specs: list[tuple[list[dict[str, Any]], bool, bool]],
) -> tuple[list[TierCampaign], dict[str, CompiledCampaign], dict[str, Buyer]]:
    entries, compiled, buyers = [], {}, {}
    for i, (flts, active, buyer_active) in enumerate(specs):
        name = f"c{i}"
        buyers[f"b{i}"] = Buyer(name=f"b{i}", active=buyer_active or i % 2 == 0)
        campaign = Campaign.model_validate(
            {
                "name": name,
                "buyer": f"b{i}",
                "vertical": "v",
                "active": active or i % 3 == 0,
                "filters": flts,
                "price": {"amount": "1.00"},
                "delivery": POST,
            }
        )
        compiled[name] = CompiledCampaign(campaign, NUMERIC_FIELDS)
        entries.append(TierCampaign(campaign=name, rank=i))
    return entries, compiled, buyers


@settings(max_examples=300, deadline=None)
@given(campaign_specs, st.lists(leads, min_size=1, max_size=6))
def test_index_agrees_with_checking_one_by_one(
    specs: list[tuple[list[dict[str, Any]], bool, bool]], lead_list: list[dict[str, Any]]
) -> None:
    entries, compiled, buyers = _campaigns(specs)
    index = TierIndex.build(entries, compiled, buyers)
    assert index is not None
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    common: dict[str, Any] = {
        "campaigns": compiled,
        "buyers": buyers,
        "now": now,
        "room": None,
        "blocked": {},
        "sold_to": (),
    }
    for lead in lead_list:  # one index, many leads: its per-value memory is exercised too
        plain_offered, plain_excluded = eligible(entries, lead=LeadView(lead), **common)
        fast_offered, fast_excluded = eligible(entries, lead=LeadView(lead), index=index, **common)
        assert [c.name for _, c in fast_offered] == [c.name for _, c in plain_offered]
        assert {(n, r) for n, r, _ in fast_excluded} == {(n, r) for n, r, _ in plain_excluded}
        assert len(fast_excluded) == len(plain_excluded)


@given(st.integers(min_value=0, max_value=(1 << 300) - 1))
def test_positions_are_the_set_bits(mask: int) -> None:
    assert positions(mask) == [i for i in range(300) if mask >> i & 1]
