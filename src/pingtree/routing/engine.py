"""The routing core: a lead, a tree, the configuration, a clock and ports in; a result out.

One deadline covers the whole lead; every ping and post gets only the time left of it.
A rejected, failed or timed-out offer cascades to the next candidate.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property, partial
from typing import TypeVar

from pingtree.buyers.model import Buyer, Campaign, Exchange, Outcome, PriceType
from pingtree.clock import Clock, Deadline
from pingtree.routing import flows
from pingtree.routing.auction import auction_window
from pingtree.routing.eligibility import CONSENT_DETAIL, Excluded, LeadView, eligible
from pingtree.routing.model import (
    Answer,
    Attempt,
    Flow,
    LeadOffer,
    Reading,
    RoutingResult,
    SaleResult,
    Skip,
    SkipReason,
    Tier,
    Ties,
    Tree,
)
from pingtree.routing.ports import (
    Bid,
    BuyerFunds,
    BuyerGateway,
    BuyerPurchases,
    CapLedger,
    CatalogView,
    PersonClaim,
    PersonTaken,
    Rotation,
)
from pingtree.verticals.pii import ping_fields

Candidate = flows.Candidate
T = TypeVar("T")
FILLED = "cap filled by other leads"
HOLDS_AHEAD_UP_TO = 4
"""Holds are taken ahead (Router._hold_ahead) while a router routes at most this many leads
at once: they shorten a lead's wait when the process has time to spare, and under load,
where one not used is work taken from other leads, they are not taken."""
MOSTLY_TURNS_DOWN = 0.5
"""A campaign whose recent posts were accepted less often than this (Router.takes) likely
turns the lead down: a hold is taken ahead of the next offer from the lead's first post."""
POST_WEIGHT = 0.1
"""Each post's weight in a campaign's recent share of posts accepted (a moving average)."""


@dataclass
class _Run:
    """The state of one lead's routing."""

    offer: LeadOffer
    tree: Tree
    deadline: Deadline
    blocked_buyers: Mapping[str, str]
    buyers: Mapping[str, Buyer] = field(default_factory=dict)
    result: RoutingResult = field(default_factory=RoutingResult)
    sold_buyers: set[str] = field(default_factory=set)
    ahead: _HoldAhead | None = None

    @cached_property
    def lead_view(self) -> LeadView:
        return LeadView(self.offer.fields)

    @property
    def done(self) -> bool:
        left = self.offer.left
        return len(self.result.sales) >= self.tree.buyers_wanted or (
            left is not None and left.is_set()
        )


@dataclass
class _HoldAhead:
    """The next offer's hold, being taken while the current post is out (Router._hold_ahead)."""

    campaign: str
    taking: asyncio.Future[str | None]
    person: PersonClaim | None  # the buyer's claim on the person, taken with the hold


Next = tuple[Campaign, Decimal] | None
"""The offer after the current one, when its price is known already: its campaign and price."""


def _priced(campaign: Campaign) -> Next:
    """A campaign posted without a ping, at its fixed price (known before its turn)."""
    price = campaign.price.amount
    return (campaign, price) if campaign.delivery.ping is None and price is not None else None


async def _after_a_turn(call: Callable[[], Awaitable[T]]) -> T:
    """call(), one loop turn from now: a hold taken ahead waits behind the post it was
    started with, which is sent (or framed for the delivery process) in that turn."""
    await asyncio.sleep(0)
    return await call()


def _budgeted(campaign: Campaign) -> bool:
    """Whether a campaign has a budget cap (a sale's price counts against a limit)."""
    return any(budget is not None for _, _, budget in campaign.caps.limits())


def _not_for_buyer(run: _Run, campaign: Campaign) -> tuple[SkipReason, str] | None:
    """Why a bid's buyer may not be posted the lead (inbound ping-post), if it may not."""
    if campaign.buyer in run.sold_buyers:
        return SkipReason.ALREADY_SOLD_TO_BUYER, ""
    consented = run.offer.consented_buyers
    if consented is not None and campaign.buyer not in consented:
        return SkipReason.CONSENT, CONSENT_DETAIL
    return None


class Router:
    """Routes leads through ping trees. One instance serves every lead."""

    def __init__(
        self,
        *,
        gateway: BuyerGateway,
        ledger: CapLedger,
        clock: Clock,
        rotation: Rotation | None = None,
        rng: random.Random | None = None,
        purchases: BuyerPurchases | None = None,
        lateness: Callable[[], float] | None = None,
        funds: BuyerFunds | None = None,
        holds_ahead_up_to: int = HOLDS_AHEAD_UP_TO,
    ) -> None:
        """lateness: how late the process's timers fire now (its event loop's lag): every
        time budget is cut by it, so that what must end by the deadline does.
        holds_ahead_up_to: take holds ahead only while routing at most this many leads."""
        self.gateway = gateway
        self.holds_ahead_up_to = holds_ahead_up_to
        self.routing = 0  # leads in route() now
        self._takes: dict[str, float] = {}
        self.lateness = lateness
        self.funds = funds
        self.ledger = ledger
        self.purchases = purchases
        self.clock = clock
        self.rotation = rotation or flows.MemoryRotation()
        self.rng = rng or random.Random()

    async def route(
        self,
        offer: LeadOffer,
        tree: Tree,
        catalog: CatalogView,
        *,
        deadline: Deadline | None = None,
        blocked_buyers: Mapping[str, str] | None = None,
    ) -> RoutingResult:
        """Offer the lead through the tree's tiers until sold, exhausted or out of time."""
        self.routing += 1
        try:
            return await self._route(offer, tree, catalog, deadline, blocked_buyers)
        finally:
            self.routing -= 1

    async def _route(
        self,
        offer: LeadOffer,
        tree: Tree,
        catalog: CatalogView,
        deadline: Deadline | None,
        blocked_buyers: Mapping[str, str] | None,
    ) -> RoutingResult:
        if deadline is None:
            deadline = Deadline.after_ms(self.clock, tree.max_processing_ms)
        run = _Run(offer, tree, deadline, blocked_buyers or {}, catalog.buyers)
        for tier in tree.tiers:
            if run.done:
                break
            if self._time_left(run) <= 0:  # the rest of the tree is skipped; timed_out below
                for entry in tier.campaigns:
                    self._skip(
                        run,
                        tier,
                        entry.campaign,
                        SkipReason.DEADLINE,
                        "maximum processing time reached",
                    )
                continue
            candidates = await self._eligible(run, tier, catalog)
            if tier.flow in (Flow.PARALLEL, Flow.PING_POST):
                await self._auction(run, tier, candidates, catalog)
            else:
                ordered = await self._order(run, tier, candidates)
                await self._one_at_a_time(run, tier, ordered, catalog)
        if self._time_left(run) <= 0 and not run.done:
            run.result.timed_out = True
        return run.result

    # --- eligibility ---------------------------------------------------------------------

    async def _eligible(self, run: _Run, tier: Tier, catalog: CatalogView) -> list[Candidate]:
        offered, excluded = self._screen(run, tier, catalog)
        looks_full = [
            capped
            for name, reason, _ in excluded
            if reason == SkipReason.CAP and not (capped := catalog.campaign(name)).caps.closed
        ]
        if looks_full and await self._recheck(run, looks_full):
            offered, excluded = self._screen(run, tier, catalog)
        for campaign, reason, detail in excluded:
            self._skip(run, tier, campaign, reason, detail)
        return offered

    async def _recheck(self, run: _Run, campaigns: list[Campaign]) -> bool:
        """Whether one of campaigns has cap room after all, read from the system of record.

        The view is what this process last saw; another process may have given room back
        since. If storage cannot answer within the lead's time, the view's answer stands
        (reserve() stays the exact check either way).
        """
        try:
            return await asyncio.wait_for(
                self.ledger.recheck(campaigns, self.clock.now()), max(self._time_left(run), 0.0)
            )
        except Exception:
            return False

    def _screen(
        self, run: _Run, tier: Tier, catalog: CatalogView
    ) -> tuple[list[Candidate], list[Excluded]]:
        return eligible(
            tier.campaigns,
            campaigns=catalog.campaigns,
            buyers=catalog.buyers,
            lead=run.lead_view,
            now=self.clock.now(),
            room=None if run.offer.test else self.ledger.room,
            blocked=run.blocked_buyers,
            sold_to=run.sold_buyers,
            index=catalog.tier_indexes.get((run.tree.name, tier.name)),
            consented=run.offer.consented_buyers,
            funds=None if run.offer.test or self.funds is None else self.funds.short,
            call=run.offer.call,
        )

    async def _order(self, run: _Run, tier: Tier, candidates: list[Candidate]) -> list[Candidate]:
        if tier.flow is Flow.PRIORITY:
            return flows.by_priority(candidates)
        if tier.flow is Flow.PRICE:
            ordered = flows.by_price(candidates)
            if tier.ties is Ties.FIRST:
                return ordered
            return await flows.rotate_ties(
                ordered,
                lambda c: (flows.listed_price(c[1]), c[0].rank),
                self.rotation,
                f"{run.tree.name}/{tier.name}",
            )
        if tier.flow is Flow.WEIGHT:
            return flows.by_weight(candidates, self.rng)
        # even: rotate over the tier's whole list so that eligibility changes stay fair
        start = await self.rotation.next_start(f"{run.tree.name}/{tier.name}", len(tier.campaigns))
        rotated = flows.by_rotation(tier.campaigns, start)
        position = {entry.campaign: i for i, entry in enumerate(rotated)}
        return sorted(candidates, key=lambda c: position[c[1].name])

    # --- offering ------------------------------------------------------------------------

    async def _one_at_a_time(
        self, run: _Run, tier: Tier, ordered: list[Candidate], catalog: CatalogView
    ) -> None:
        try:
            for i, (_entry, campaign) in enumerate(ordered):
                if run.done:
                    return
                if campaign.buyer in run.sold_buyers:
                    self._skip(run, tier, campaign.name, SkipReason.ALREADY_SOLD_TO_BUYER)
                    continue
                bid: Bid | None = None
                if campaign.delivery.ping is not None:
                    bid = await self._ask(run, tier, campaign, catalog)
                    if bid is None:
                        continue
                    if bid.price < campaign.price.floor:
                        detail = f"bid {bid.price} < floor {campaign.price.floor}"
                        self._skip(run, tier, campaign.name, SkipReason.BELOW_FLOOR, detail)
                        continue
                following = _priced(ordered[i + 1][1]) if i + 1 < len(ordered) else None
                await self._offer(run, tier, campaign, bid, following)
        finally:
            await self._drop_ahead(run)

    async def _auction(
        self, run: _Run, tier: Tier, candidates: list[Candidate], catalog: CatalogView
    ) -> None:
        window = auction_window(
            time_left=self._time_left(run),
            configured_ms=tier.auction_ms,
            post_timeouts=(c.delivery.timeout_ms / 1000 for _, c in candidates),
        )
        bids = await self._bids(run, tier, candidates, catalog, window)
        try:
            for i, (bid, campaign) in enumerate(bids):
                if run.done:
                    return
                if campaign.buyer in run.sold_buyers:
                    self._skip(run, tier, campaign.name, SkipReason.ALREADY_SOLD_TO_BUYER)
                    continue
                following = (bids[i + 1][1], bids[i + 1][0].price) if i + 1 < len(bids) else None
                await self._offer(run, tier, campaign, bid, following)
        finally:
            await self._drop_ahead(run)

    # --- a hold taken ahead ----------------------------------------------------------------
    #
    # A cascade's posts go one after another, and each waits for its hold (a commit) before
    # it goes out. While a post that is not the lead's first is out (or a first post to a
    # campaign that mostly turns leads down), the next offer's hold is taken already when
    # its price is known and its campaign has room to spare, so a lead that cascades waits
    # for one or two holds, not one a post. A hold not used (the lead sold, or the next
    # offer skipped) is given back with the others when it is recorded.

    def takes(self, campaign: str) -> float:
        """The campaign's recent share of posts accepted, as this process saw them (a moving
        average; 1 for a campaign not posted yet)."""
        return self._takes.get(campaign, 1.0)

    def _answered(self, campaign: str, accepted: bool) -> None:
        self._takes[campaign] = (1 - POST_WEIGHT) * self.takes(campaign) + POST_WEIGHT * accepted

    async def _offer(
        self, run: _Run, tier: Tier, campaign: Campaign, bid: Bid | None, following: Next
    ) -> None:
        """Sell to campaign (with the hold taken ahead for it, if one was)."""
        ahead = run.ahead
        if ahead is not None and ahead.campaign != campaign.name:
            await self._drop_ahead(run)  # its offer was skipped
            ahead = None
        if ahead is None:
            await self._sell(run, tier, campaign, bid, following=following)
            return
        run.ahead = None
        try:
            held = await ahead.taking
        except PersonTaken as taken:
            assert ahead.person is not None
            self._skip_duplicate(run, tier, campaign, taken.holder, ahead.person.days)
            return
        except Exception as exc:
            self._skip(run, tier, campaign.name, SkipReason.CAP_UNAVAILABLE, type(exc).__name__)
            return
        if held is None:
            self._skip(run, tier, campaign.name, SkipReason.CAP_REACHED, FILLED)
            return
        claimed = ahead.person is not None
        if claimed:
            run.result.claimed.append(campaign.buyer)
        await self._sell(run, tier, campaign, bid, held, claimed=claimed, following=following)

    def _hold_ahead(self, run: _Run, posting: Campaign, following: Next) -> None:
        """Start taking the next offer's hold (called as the post to `posting` goes out),
        from the lead's second post on, or from its first when `posting` mostly turns leads
        down: a lead its first buyer likely takes takes no hold it does not use, and one
        that was turned down once is the one likely to cascade further."""
        if following is None or run.ahead is not None or run.offer.test:
            return
        if self.routing > self.holds_ahead_up_to:
            return
        if self.takes(posting.name) >= MOSTLY_TURNS_DOWN and not any(
            attempt.kind is Exchange.POST for attempt in run.result.attempts
        ):
            return
        campaign, price = following
        if campaign.buyer in run.sold_buyers or campaign.call is not None:
            return  # a call's dial rings for seconds: a hold ahead of it saves nothing
        if self.funds is not None and self.funds.short(campaign.buyer, price) is not None:
            return
        now = self.clock.now()
        hold_s = self._time_left(run)
        if hold_s <= 0 or not self.ledger.spare(campaign, now, price):
            return
        days = self._dedup_days(run, campaign)
        person = PersonClaim(campaign.buyer, days, run.offer.people) if days else None
        reserving = partial(
            self.ledger.reserve,
            campaign,
            lead_id=run.offer.lead_id,
            price=price,
            at=now,
            hold_s=hold_s,
            person=person,
        )
        taking = asyncio.ensure_future(_after_a_turn(reserving))
        run.ahead = _HoldAhead(campaign.name, taking, person)

    async def _drop_ahead(self, run: _Run) -> None:
        """A hold taken ahead and not used: given back when the lead is recorded."""
        ahead, run.ahead = run.ahead, None
        if ahead is None:
            return
        try:
            held = await ahead.taking
        except Exception:
            return  # nothing was taken
        if held is not None:
            run.result.released.append(held)
            if ahead.person is not None:
                run.result.claimed.append(ahead.person.buyer)

    async def _bids(
        self,
        run: _Run,
        tier: Tier,
        candidates: list[Candidate],
        catalog: CatalogView,
        window: float,
    ) -> list[tuple[Bid, Campaign]]:
        """Ask every candidate at once; the bids in by the window's close, at or over the floor,
        best first."""
        asked = [c for _, c in candidates if c.delivery.ping is not None]
        answers = await self._within_window(run, tier, asked, catalog, window)
        bids = {c.name: b for c, b in zip(asked, answers, strict=True) if b is not None}
        for _, campaign in candidates:
            if campaign.delivery.ping is None and campaign.price.amount is not None:
                bids[campaign.name] = Bid(campaign.name, campaign.price.amount, None)
        ranks = {c.name: (e.rank, i) for i, (e, c) in enumerate(candidates)}
        standing: list[tuple[Bid, Campaign]] = []
        for _, campaign in candidates:
            bid = bids.get(campaign.name)
            if bid is None:
                continue
            floor = campaign.price.floor
            if tier.flow is Flow.PING_POST:
                floor = max(floor, tier.floor)
            if bid.price < floor:
                self._skip(
                    run,
                    tier,
                    campaign.name,
                    SkipReason.BELOW_FLOOR,
                    f"bid {bid.price} < floor {floor}",
                )
                continue
            standing.append((bid, campaign))
        standing.sort(key=lambda bc: (-bc[0].price, ranks[bc[1].name]))
        if tier.ties is Ties.FIRST:
            return standing
        return await flows.rotate_ties(
            standing,
            lambda bc: (bc[0].price, ranks[bc[1].name][0]),
            self.rotation,
            f"{run.tree.name}/{tier.name}",
        )

    async def _within_window(
        self, run: _Run, tier: Tier, asked: list[Campaign], catalog: CatalogView, window: float
    ) -> list[Bid | None]:
        """Ping every campaign at once and wait at most the auction window for the answers.

        Pings still out when it closes are cancelled and recorded as late timeouts: a late
        bid is never used.
        """
        if not asked:
            return []
        opened, opened_at = self.clock.monotonic(), self.clock.now()
        tasks = [asyncio.create_task(self._ask(run, tier, c, catalog)) for c in asked]
        try:
            await asyncio.wait(tasks, timeout=window)
        finally:
            late = [task for task in tasks if not task.done()]
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
        bids: list[Bid | None] = []
        for campaign, task in zip(asked, tasks, strict=True):
            if task in late:
                self._late(run, tier, campaign, opened, opened_at, window)
                bids.append(None)
            else:
                bids.append(task.result())
        return bids

    def _late(
        self,
        run: _Run,
        tier: Tier,
        campaign: Campaign,
        opened: float,
        opened_at: datetime,
        window: float,
    ) -> None:
        reason = f"late for the auction: no bid within its {window * 1000:.0f} ms window"
        run.result.attempts.append(
            Attempt(
                campaign=campaign.name,
                buyer=campaign.buyer,
                kind=Exchange.PING,
                started_at=opened_at,
                answer=Answer(
                    Reading(Outcome.TIMEOUT, reason=reason),
                    duration_ms=(self.clock.monotonic() - opened) * 1000,
                ),
                tier=tier.name,
            )
        )
        self._skip(run, tier, campaign.name, SkipReason.LATE, reason)

    # --- inbound ping-post: the publisher pings first, then posts ----------------------

    async def collect_bids(
        self, offer: LeadOffer, tree: Tree, catalog: CatalogView
    ) -> tuple[list[tuple[str, Bid]], RoutingResult]:
        """Every tier's eligible campaigns asked at once: (tier, bid) best first, and the record."""
        run = _Run(offer, tree, Deadline.after_ms(self.clock, tree.max_processing_ms), {})
        tiers = [(tier, await self._eligible(run, tier, catalog)) for tier in tree.tiers]
        # Nothing is posted now (the publisher posts later): bids may take the time left.
        left = self._time_left(run)
        found = await asyncio.gather(
            *(
                self._bids(
                    run,
                    t,
                    c,
                    catalog,
                    auction_window(time_left=left, configured_ms=t.auction_ms, post_timeouts=()),
                )
                for t, c in tiers
            )
        )
        ranked = [
            (tier.name, bid, position)
            for position, ((tier, _), standing) in enumerate(zip(tiers, found, strict=True))
            for bid, _campaign in standing
        ]
        ranked.sort(key=lambda t: (-t[1].price, t[2]))
        best: dict[str, tuple[str, Bid]] = {}  # a campaign in two tiers keeps its best bid
        for tier_name, bid, _ in ranked:
            best.setdefault(bid.campaign, (tier_name, bid))
        return list(best.values()), run.result

    async def sell_to_bids(
        self,
        offer: LeadOffer,
        tree: Tree,
        catalog: CatalogView,
        bids: list[tuple[str, Bid]],
        *,
        held: str | None = None,
    ) -> RoutingResult:
        """Post the full lead to the bids in order; the first bid's room is already held.

        A rejected post cascades to the next bid (its room taken now); no campaign is sent
        the lead twice, and no buyer buys it twice.
        """
        deadline = Deadline.after_ms(self.clock, tree.max_processing_ms)
        run = _Run(offer, tree, deadline, {}, catalog.buyers)
        tiers = {tier.name: tier for tier in tree.tiers}
        posted: set[str] = set()
        for i, (tier_name, bid) in enumerate(bids):
            reservation = held if i == 0 else None
            if run.done or bid.campaign in posted:
                if reservation is not None:
                    run.result.released.append(reservation)
                continue
            tier = tiers.get(tier_name)
            compiled = catalog.campaigns.get(bid.campaign)
            if tier is None or compiled is None:
                # The configuration changed between the ping and its post: the bid is void.
                gone = f"tier {tier_name}" if tier is None else f"campaign {bid.campaign}"
                detail = f"{gone} is no longer in the configuration"
                run.result.skips.append(Skip(bid.campaign, SkipReason.REMOVED, detail, tier_name))
                if reservation is not None:
                    run.result.released.append(reservation)
                continue
            campaign = compiled.campaign
            refused = _not_for_buyer(run, campaign)
            if refused is not None:
                self._skip(run, tier, campaign.name, *refused)
                if reservation is not None:
                    run.result.released.append(reservation)
                continue
            posted.add(campaign.name)
            await self._sell(run, tier, campaign, bid, held=reservation)
        return run.result

    async def _ask(
        self, run: _Run, tier: Tier, campaign: Campaign, catalog: CatalogView
    ) -> Bid | None:
        """Ping a campaign with non-PII fields; its bid, or None (recorded either way)."""
        timeout = self._timeout(run, campaign)
        if timeout <= 0:
            self._skip(run, tier, campaign.name, SkipReason.DEADLINE, "no time left to ping")
            return None
        vertical = catalog.verticals[run.offer.vertical]
        fields = ping_fields(vertical, run.offer.fields, campaign.delivery.ping_fields)
        answer = await self.gateway.ping(
            campaign, lead_id=run.offer.lead_id, fields=fields, test=run.offer.test, timeout=timeout
        )
        self._record(run, tier, campaign, Exchange.PING, answer)
        reading = answer.reading
        if reading.outcome is not Outcome.ACCEPTED:
            return None
        reference = answer.bid_reference or reading.reference
        if campaign.price.type is PriceType.FIXED:
            assert campaign.price.amount is not None
            return Bid(campaign.name, campaign.price.amount, reference)
        if reading.price is None:
            self._skip(run, tier, campaign.name, SkipReason.NO_BID, "ping accepted without a price")
            return None
        return Bid(campaign.name, reading.price, reference)

    async def _sell(
        self,
        run: _Run,
        tier: Tier,
        campaign: Campaign,
        bid: Bid | None,
        held: str | None = None,
        *,
        claimed: bool = False,
        following: Next = None,
    ) -> bool:
        """Reserve cap room (unless held), post the full lead, and keep or give back the room.

        The person is claimed for a buyer with a dedup window in the hold's own transaction.
        claimed: the person was claimed with the held room. following: the next offer, whose
        hold may be taken while this post is out.
        """
        price = bid.price if bid is not None else campaign.price.amount
        assert price is not None  # a bid campaign always has a ping, so a bid
        timeout = self._post_timeout(run, campaign)
        reservation: str | None = held
        if timeout <= 0:
            self._skip(run, tier, campaign.name, SkipReason.DEADLINE, "no time left to post")
            if reservation is not None:
                run.result.released.append(reservation)
            return False
        if self.funds is not None and not run.offer.test:
            short = self.funds.short(campaign.buyer, price)  # a bid is known only now
            if short is not None:
                self._skip(run, tier, campaign.name, SkipReason.FUNDS, short)
                if reservation is not None:
                    run.result.released.append(reservation)
                return False
        if reservation is None and not run.offer.test:
            days = self._dedup_days(run, campaign)
            person = PersonClaim(campaign.buyer, days, run.offer.people) if days else None
            try:  # the hold is also the post's journal entry: no post without it
                reservation = await self.ledger.reserve(
                    campaign,
                    lead_id=run.offer.lead_id,
                    price=price,
                    at=self.clock.now(),
                    hold_s=self._time_left(run),  # of no use to the lead after its deadline
                    person=person,
                )
            except PersonTaken as taken:
                self._skip_duplicate(run, tier, campaign, taken.holder, days)
                return False
            except Exception as exc:
                self._skip(run, tier, campaign.name, SkipReason.CAP_UNAVAILABLE, type(exc).__name__)
                return False
            if reservation is None:
                self._skip(run, tier, campaign.name, SkipReason.CAP_REACHED, FILLED)
                return False
            if person is not None:
                claimed = True
                run.result.claimed.append(campaign.buyer)
            timeout = self._post_timeout(run, campaign)  # the reservation took some of the time
            if timeout <= 0:
                self._skip(run, tier, campaign.name, SkipReason.DEADLINE, "no time left to post")
                run.result.released.append(reservation)
                return False
        sold = False
        try:
            if not claimed and not await self._claim_person(run, tier, campaign):
                return False
            self._hold_ahead(run, campaign, following)
            answer = await self.gateway.post(
                campaign,
                lead_id=run.offer.lead_id,
                fields=run.offer.fields,
                bid=bid,
                test=run.offer.test,
                timeout=timeout,
                consent=run.offer.consent,
            )
            recorded = len(run.result.attempts)
            self._record(run, tier, campaign, Exchange.POST, answer, price=price)
            reading = answer.reading
            if not run.offer.test:  # a test lead's answer says nothing of the buyer's taste
                self._answered(campaign.name, reading.outcome is Outcome.ACCEPTED)
            if reading.outcome is not Outcome.ACCEPTED:
                return False
            booked = campaign.price.booked(price, reading.price)
            if booked > price and reservation is not None and _budgeted(campaign):
                booked = await self._raise_hold(run, campaign, reservation, price, booked, recorded)
            sold = True
            run.sold_buyers.add(campaign.buyer)
            run.result.sales.append(
                SaleResult(
                    campaign=campaign.name,
                    buyer=campaign.buyer,
                    price=booked,
                    reference=reading.reference,
                    redirect_url=reading.redirect_url,
                    reservation_id=reservation,
                    tier=tier.name,
                )
            )
            return True
        finally:
            # The hold is settled when the lead is recorded: kept with its sale, or given back.
            if reservation is not None and not sold:
                run.result.released.append(reservation)

    async def _raise_hold(
        self,
        run: _Run,
        campaign: Campaign,
        reservation: str,
        price: Decimal,
        booked: Decimal,
        recorded: int,
    ) -> Decimal:
        """The price a sale above its hold's price is booked at: `booked` when every budget
        of the hold had room for the difference (the ledger raised the hold to it), else
        the hold's own price, what the budget was reserved for (a buyer answering its post
        above its bid never takes its budget past the limit). The post's attempt (at index
        `recorded`) then says so in its response record (`over_budget`)."""
        try:
            if await self.ledger.raise_hold(campaign, reservation, price=price, to=booked):
                return booked
            why = f"no budget room for {booked}: booked at {price}, the price held"
        except Exception as exc:  # the hold stands as taken: its price is the safe one
            why = f"budget not raised to {booked} ({type(exc).__name__}): booked at {price}"
        attempt = run.result.attempts[recorded]
        response = {**attempt.answer.response, "over_budget": why}
        run.result.attempts[recorded] = replace(
            attempt, answer=replace(attempt.answer, response=response)
        )
        return price

    # --- a buyer's dedup window ------------------------------------------------------------

    def _dedup_days(self, run: _Run, campaign: Campaign) -> int:
        if self.purchases is None or run.offer.test or not run.offer.people:
            return 0
        buyer = run.buyers.get(campaign.buyer)
        return buyer.dedup_days if buyer is not None else 0

    async def _claim_person(self, run: _Run, tier: Tier, campaign: Campaign) -> bool:
        """Hold the person for this buyer before the post; False (skipped) if the buyer has it.

        The claim is kept with a sale; the lead's other claims are given back when it is
        recorded (intake.service.finish).
        """
        days = self._dedup_days(run, campaign)
        if not days:
            return True
        assert self.purchases is not None
        holder = await self.purchases.claim(
            buyer=campaign.buyer,
            days=days,
            people=run.offer.people,
            lead_id=run.offer.lead_id,
            at=self.clock.now(),
        )
        if holder is None:
            run.result.claimed.append(campaign.buyer)
            return True
        self._skip_duplicate(run, tier, campaign, holder, days)
        return False

    def _skip_duplicate(
        self, run: _Run, tier: Tier, campaign: Campaign, holder: str, days: int
    ) -> None:
        detail = f"duplicate: lead {holder} holds or bought this person (window {days} days)"
        self._skip(run, tier, campaign.name, SkipReason.BLOCKED, detail)

    # --- bookkeeping ---------------------------------------------------------------------

    def _time_left(self, run: _Run) -> float:
        late = self.lateness() if self.lateness is not None else 0.0
        return run.deadline.left_s(self.clock, lateness_s=late)

    def _timeout(self, run: _Run, campaign: Campaign) -> float:
        return min(campaign.delivery.timeout_ms / 1000, self._time_left(run))

    def _post_timeout(self, run: _Run, campaign: Campaign) -> float:
        """A post's time: a call's post is a dial, which rings for the campaign's ring_s."""
        if campaign.call is None:
            return self._timeout(run, campaign)
        return min(float(campaign.call.ring_s), self._time_left(run))

    def _skip(
        self, run: _Run, tier: Tier, campaign: str, reason: SkipReason, detail: str = ""
    ) -> None:
        run.result.skips.append(
            Skip(campaign=campaign, reason=reason, detail=detail, tier=tier.name)
        )

    def _record(
        self,
        run: _Run,
        tier: Tier,
        campaign: Campaign,
        kind: Exchange,
        answer: Answer,
        price: Decimal | None = None,
    ) -> None:
        started = self.clock.now() - timedelta(milliseconds=answer.duration_ms)
        run.result.attempts.append(
            Attempt(
                campaign=campaign.name,
                buyer=campaign.buyer,
                kind=kind,
                started_at=started,
                answer=answer,
                tier=tier.name,
                bid_price=price,  # a post's agreed price; an answer stating another mismatches
            )
        )
