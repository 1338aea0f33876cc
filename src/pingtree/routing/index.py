"""A tier index: rule out most campaigns of a big tier in bulk, with the reason for each.

For every field that equals / in / not_in / zip_list / near filters look at, each value the
filters name (each ZIP a near filter takes) maps to a bitmask of the campaigns that let it
through. A lead ANDs the masks of its values; only the campaigns left go through every
check. Each campaign ruled out is reported with the filter that shut it out, as the
one-by-one check would.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from decimal import Decimal

from pingtree.buyers.model import Buyer, Filter, FilterOp
from pingtree.routing.eligibility import (
    CompiledCampaign,
    Excluded,
    Key,
    LeadView,
    compile_filter,
    describe_filter,
    near_zips,
    operand_key,
)
from pingtree.routing.model import SkipReason, TierCampaign

VALUE_OPS = (FilterOp.EQUALS, FilterOp.IN, FilterOp.NOT_IN)
MIN_CAMPAIGNS = 16
SEEN_VALUES = 4096
# For each byte value, the positions of its set bits: walks a 1,000-bit mask in 125 steps.
_BITS = [tuple(b for b in range(8) if value >> b & 1) for value in range(256)]


def positions(mask: int) -> list[int]:
    """The set bits of a mask, lowest first."""
    out: list[int] = []
    for n, byte in enumerate(mask.to_bytes((mask.bit_length() + 7) // 8, "little")):
        if byte:
            base = n * 8
            out.extend(base + bit for bit in _BITS[byte])
    return out


class _ValueKey:
    """Masks for the equals/in/not_in filters on one field, keyed as LeadView.key keys."""

    def __init__(
        self, field: str, numeric: bool, filters: dict[int, list[Filter]], everyone: int
    ) -> None:
        self.field = field
        self.numeric = numeric
        unconstrained = everyone & ~sum(1 << i for i in filters)
        operands = (v for fl in filters.values() for f in fl for v in _operands(f))
        named = {operand_key(v, numeric) for v in operands}
        checks = {i: [compile_filter(f, numeric) for f in fl] for i, fl in filters.items()}

        def passing(value: Key | None) -> int:
            view = LeadView({field: value})
            mask = unconstrained
            for i, predicates in checks.items():
                if all(p(view) for p in predicates):
                    mask |= 1 << i
            return mask

        self.masks = {value: passing(value) for value in named}
        # Any value no filter names passes the same filters as any other such value.
        self.other_text = passing("\x00 a value no filter names")
        numbers = [abs(k) for k in named if isinstance(k, Decimal)]
        self.other_number = passing(max(numbers, default=Decimal(0)) + 1)
        self.missing = passing(None)
        self.reasons = {i: describe_filter(fl[0]) for i, fl in filters.items()}

    def mask(self, lead: LeadView) -> int:
        key = lead.key(self.field, self.numeric)
        if key is None:
            return self.missing
        found = self.masks.get(key)
        if found is not None:
            return found
        return self.other_number if isinstance(key, Decimal) else self.other_text


class _ZipKey:
    """Masks for zip_list or near filters on one field: 5-digit ZIPs and 3-digit prefixes."""

    def __init__(self, field: str, filters: dict[int, Filter], everyone: int) -> None:
        self.field = field
        self.unconstrained = everyone & ~sum(1 << i for i in filters)
        self.full: dict[str, int] = {}
        self.prefix: dict[str, int] = {}
        for i, flt in filters.items():
            values = near_zips(flt) if flt.op is FilterOp.NEAR else flt.values or ()
            for value in values:
                table = self.full if len(value) == 5 else self.prefix
                table[value] = table.get(value, 0) | 1 << i
        self.reasons = {i: describe_filter(flt) for i, flt in filters.items()}

    def mask(self, lead: LeadView) -> int:
        text = lead.text(self.field)
        if text is None:
            return self.unconstrained
        zip5 = text[:5]
        return self.unconstrained | self.full.get(zip5, 0) | self.prefix.get(zip5[:3], 0)


class _RangeKey:
    """Masks for range filters on one field: a sweep over the bounds, then bisect per lead."""

    def __init__(self, field: str, filters: dict[int, Filter], everyone: int) -> None:
        self.field = field
        self.unconstrained = everyone & ~sum(1 << i for i in filters)
        starts: dict[Decimal, int] = {}
        ends: dict[Decimal, int] = {}
        current = 0
        for i, flt in filters.items():
            if flt.min is None:
                current |= 1 << i
            else:
                starts[flt.min] = starts.get(flt.min, 0) | 1 << i
            if flt.max is not None:
                ends[flt.max] = ends.get(flt.max, 0) | 1 << i
        self.points = sorted(set(starts) | set(ends))
        self.below = current
        self.at: list[int] = []
        self.after: list[int] = []
        for point in self.points:  # bounds are inclusive: a range holds its min and its max
            current |= starts.get(point, 0)
            self.at.append(current)
            current &= ~ends.get(point, 0)
            self.after.append(current)
        self.reasons = {i: describe_filter(flt) for i, flt in filters.items()}

    def mask(self, lead: LeadView) -> int:
        number = lead.number(self.field)
        if number is None:
            return self.unconstrained
        k = bisect_left(self.points, number)
        if k < len(self.points) and self.points[k] == number:
            return self.unconstrained | self.at[k]
        return self.unconstrained | (self.below if k == 0 else self.after[k - 1])


class _PatternKey:
    """Regex and exists filters on one field: each distinct test run once per lead."""

    def __init__(self, field: str, filters: dict[int, Filter], everyone: int) -> None:
        self.field = field
        self.unconstrained = everyone & ~sum(1 << i for i in filters)
        groups: dict[tuple[FilterOp, str], int] = {}
        for i, flt in filters.items():
            test = flt.pattern if flt.op is FilterOp.REGEX else str(flt.value is not False)
            key = (flt.op, test or "")
            groups[key] = groups.get(key, 0) | 1 << i
        self.tests = [
            (compile_filter(_probe(field, op, test)), mask) for (op, test), mask in groups.items()
        ]
        self.reasons = {i: describe_filter(flt) for i, flt in filters.items()}
        self.seen: dict[tuple[type, object], int] = {}  # the mask depends only on the value

    def mask(self, lead: LeadView) -> int:
        value = lead.fields.get(self.field)
        key = (type(value), value) if isinstance(value, str | int | float | bool | None) else None
        if key is not None and (known := self.seen.get(key)) is not None:
            return known
        passing = self.unconstrained
        for test, mask in self.tests:
            if test(lead):
                passing |= mask
        if key is not None:
            if len(self.seen) >= SEEN_VALUES:
                self.seen.clear()
            self.seen[key] = passing
        return passing


def _probe(field: str, op: FilterOp, test: str) -> Filter:
    if op is FilterOp.REGEX:
        return Filter(field=field, op=op, pattern=test)
    return Filter(field=field, op=op, value=test == "True")


def _operands(flt: Filter) -> list[object]:
    return [flt.value] if flt.op is FilterOp.EQUALS else list(flt.values or ())


class TierIndex:
    """Bitmask index over one tier's campaigns."""

    def __init__(
        self,
        entries: Sequence[TierCampaign],
        campaigns: Mapping[str, CompiledCampaign],
        buyers: Mapping[str, Buyer],
    ) -> None:
        self.names = [entry.campaign for entry in entries]
        everyone = (1 << len(entries)) - 1
        self.static_reasons: dict[int, SkipReason] = {}
        by_value: dict[tuple[str, bool], dict[int, list[Filter]]] = {}
        by_zip: dict[tuple[str, FilterOp, int], dict[int, Filter]] = {}
        by_range: dict[tuple[str, int], dict[int, Filter]] = {}
        by_pattern: dict[tuple[str, FilterOp, int], dict[int, Filter]] = {}
        recheck = 0
        for i, entry in enumerate(entries):
            compiled = campaigns[entry.campaign]
            campaign = compiled.campaign
            buyer = buyers.get(campaign.buyer)
            if not campaign.active:
                self.static_reasons[i] = SkipReason.INACTIVE
            elif buyer is None or not buyer.active:
                self.static_reasons[i] = SkipReason.BUYER_INACTIVE
            seen: dict[tuple[str, FilterOp], int] = {}
            for flt in campaign.filters:
                # A campaign may hold two filters of a kind on one field: each its own key.
                nth = seen[(flt.field, flt.op)] = seen.get((flt.field, flt.op), -1) + 1
                if flt.op in (FilterOp.ZIP_LIST, FilterOp.NEAR):
                    by_zip.setdefault((flt.field, flt.op, nth), {})[i] = flt
                elif flt.op is FilterOp.RANGE:
                    by_range.setdefault((flt.field, nth), {})[i] = flt
                elif flt.op in (FilterOp.REGEX, FilterOp.EXISTS):
                    by_pattern.setdefault((flt.field, flt.op, nth), {})[i] = flt
                elif flt.op in VALUE_OPS:
                    numeric = flt.field in compiled.numeric_fields
                    by_value.setdefault((flt.field, numeric), {}).setdefault(i, []).append(flt)
                else:
                    recheck |= 1 << i
        self.active = everyone & ~sum(1 << i for i in self.static_reasons)
        self.recheck = recheck
        self.keys: list[_ValueKey | _ZipKey | _RangeKey | _PatternKey] = [
            *(_ValueKey(f, n, fl, everyone) for (f, n), fl in by_value.items()),
            *(_ZipKey(f, fl, everyone) for (f, _, _), fl in by_zip.items()),
            *(_RangeKey(f, fl, everyone) for (f, _), fl in by_range.items()),
            *(_PatternKey(f, fl, everyone) for (f, _, _), fl in by_pattern.items()),
        ]

    @classmethod
    def build(
        cls,
        entries: Sequence[TierCampaign],
        campaigns: Mapping[str, CompiledCampaign],
        buyers: Mapping[str, Buyer],
    ) -> TierIndex | None:
        """An index for tiers big enough for it to pay."""
        return cls(entries, campaigns, buyers) if len(entries) >= MIN_CAMPAIGNS else None

    def screen(self, lead: LeadView) -> tuple[list[tuple[int, bool]], list[Excluded]]:
        """Campaigns left (position, whether filters need a recheck) and the ones ruled out."""
        excluded: list[Excluded] = [
            (self.names[i], reason, "") for i, reason in self.static_reasons.items()
        ]
        left = self.active
        names = self.names
        for key in self.keys:
            passing = key.mask(lead)
            failed = left & ~passing
            if failed:
                left &= passing
                reasons = key.reasons
                excluded.extend(
                    (names[i], SkipReason.FILTER, reasons[i]) for i in positions(failed)
                )
        recheck = self.recheck
        return [(i, bool(recheck >> i & 1)) for i in positions(left)], excluded
