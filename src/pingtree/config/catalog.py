"""The configuration in force, indexed for the lead path."""

from __future__ import annotations

from dataclasses import dataclass, field

from pingtree.buyers.model import Buyer, Campaign
from pingtree.config.document import ConfigDocument
from pingtree.consent.model import ConsentPolicy, policy_in_force
from pingtree.consent.sellers import SellerNames
from pingtree.publishers.model import REVOKED_KEY_SHA256, Publisher, TrackingNumber
from pingtree.routing.eligibility import CompiledCampaign
from pingtree.routing.index import TierIndex
from pingtree.routing.model import Route, Tree
from pingtree.screening.model import ScreeningPolicy
from pingtree.verticals.model import Vertical


@dataclass
class Catalog:
    """Read-only lookups over one version of the configuration."""

    document: ConfigDocument
    version: int = 0
    verticals: dict[str, Vertical] = field(default_factory=dict)
    publishers: dict[str, Publisher] = field(default_factory=dict)
    publishers_by_key: dict[str, Publisher] = field(default_factory=dict)
    buyers: dict[str, Buyer] = field(default_factory=dict)
    buyers_by_key: dict[str, Buyer] = field(default_factory=dict)
    campaigns: dict[str, CompiledCampaign] = field(default_factory=dict)
    trees: dict[str, Tree] = field(default_factory=dict)
    routes: dict[tuple[str, str, str | None], Route] = field(default_factory=dict)
    tier_indexes: dict[tuple[str, str], TierIndex] = field(default_factory=dict)
    sellers: SellerNames = field(default_factory=lambda: SellerNames(()))
    """Buyers by the names they go by in consent texts."""
    numbers: dict[str, tuple[Publisher, Vertical, TrackingNumber]] = field(default_factory=dict)
    """Tracking numbers (E.164): the publisher whose calls they take, the vertical, the
    number's own settings."""
    _consent: dict[tuple[str, str], ConsentPolicy | None] = field(default_factory=dict)

    @classmethod
    def build(cls, document: ConfigDocument, version: int = 0) -> Catalog:
        """Index a document that already passed validation."""
        verticals = {v.name: v for v in document.verticals}
        catalog = cls(
            document=document,
            version=version,
            verticals=verticals,
            publishers={p.name: p for p in document.publishers},
            publishers_by_key={
                p.api_key_sha256: p
                for p in document.publishers
                if p.api_key_sha256 and p.api_key_sha256 != REVOKED_KEY_SHA256
            },
            buyers={b.name: b for b in document.buyers},
            buyers_by_key={b.api_key_sha256: b for b in document.buyers if b.api_key_sha256},
            campaigns={
                c.name: CompiledCampaign(c, _numeric_fields(verticals.get(c.vertical)))
                for c in document.campaigns
            },
            trees={t.name: t for t in document.trees},
            routes={(r.publisher, r.vertical, r.band): r for r in document.routes},
            sellers=SellerNames((b.name, b.consent_names) for b in document.buyers),
            numbers={
                n.number: (p, verticals[n.vertical], n)
                for p in document.publishers
                for n in p.numbers
                if n.vertical in verticals
            },
        )
        for tree in document.trees:
            for tier in tree.tiers:
                index = TierIndex.build(tier.campaigns, catalog.campaigns, catalog.buyers)
                if index is not None:
                    catalog.tier_indexes[(tree.name, tier.name)] = index
        return catalog

    def route(self, publisher: str, vertical: str, band: str | None = None) -> Route | None:
        """The route for a lead: the one for its score band, else the publisher's default."""
        if band is not None and (found := self.routes.get((publisher, vertical, band))):
            return found
        return self.routes.get((publisher, vertical, None))

    def screening(self, publisher: str, vertical: str) -> ScreeningPolicy | None:
        """The screening policy in force: the vertical's, with the publisher's laid over it
        (either of them removed from the configuration since a lead came: the other's)."""
        found, by = self.verticals.get(vertical), self.publishers.get(publisher)
        base = found.screening if found is not None else None
        override = by.screening if by is not None else None
        if base is None or override is None:
            return base or override
        return base.overlay(override)

    def consent(self, publisher: str, vertical: str) -> ConsentPolicy | None:
        """The consent policy in force: the vertical's, with the publisher's laid over it."""
        key = (publisher, vertical)
        try:
            return self._consent[key]
        except KeyError:  # worked out once per pair and configuration, not per lead
            found = policy_in_force(
                self.verticals[vertical].consent, self.publishers[publisher].consent
            )
            self._consent[key] = found
            return found

    def campaign(self, name: str) -> Campaign:
        """The campaign called name."""
        return self.campaigns[name].campaign


def _numeric_fields(vertical: Vertical | None) -> frozenset[str]:
    return vertical.numeric_fields if vertical is not None else frozenset()
