"""One-to-one consent: the sellers a consumer named, as buyers."""

from __future__ import annotations

from pingtree.consent.sellers import SellerNames


def test_sellers_match_buyers_by_consent_name_ignoring_case_and_spaces() -> None:
    names = SellerNames(
        [
            ("apex", ["Apex Insurance", "Apex Insurance Agency LLC"]),
            ("bluecrest", []),  # goes by its own name
            ("cascade", ["Cascade Auto"]),
            ("cascade-2", ["cascade   auto"]),  # two buyers under one brand
        ]
    )
    assert names.buyers_named(["  APEX  insurance "]) == {"apex"}
    assert names.buyers_named(["Bluecrest"]) == {"bluecrest"}
    assert names.buyers_named(["Cascade Auto"]) == {"cascade", "cascade-2"}
    assert names.buyers_named(["apex"]) == frozenset()  # a consent name replaces the name
    assert names.buyers_named(["Nobody Ltd"]) == frozenset()
