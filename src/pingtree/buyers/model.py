"""Buyers and their campaigns: which leads they take, when, how many, at what price, and how."""

from __future__ import annotations

import re
from datetime import date, time
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from pingtree.buyers.calls import CallTerms
from pingtree.buyers.selectors import Selector, compile_selector
from pingtree.buyers.terms import Funds, ReturnPolicy
from pingtree.credentials.masking import MASK
from pingtree.credentials.refs import SECRET_NAME, SecretSpec, is_reference, references
from pingtree.geo import known_zip
from pingtree.money import Money
from pingtree.names import NAME_PATTERN
from pingtree.patterns import compile_pattern
from pingtree.webhooks import Webhook, WebhookEvent


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Buyer(Strict):
    """The company that pays for leads."""

    name: str = Field(pattern=NAME_PATTERN)
    active: bool = True
    contact_email: str | None = None
    dedup_days: int = Field(
        default=30,
        ge=0,
        le=3650,
        description="skip a person this buyer bought within N days; 0 off",
    )
    consent_names: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(
        default_factory=list,
        description="the names this buyer goes by in consent texts (one-to-one consent): a "
        "lead whose consent names sellers is offered to it only if one of these is among "
        "them, ignoring case; default: the buyer's name",
    )
    api_key: str | None = Field(
        default=None,
        min_length=16,
        description="the buyer's own API key (returns); plain only in files you apply, "
        "stored as its SHA-256 and never exported",
    )
    api_key_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    funds: Funds | None = Field(
        default=None,
        description="buy from prepaid funds or up to a credit limit; none: not checked",
    )
    returns: ReturnPolicy | None = Field(
        default=None, description="how the buyer may return leads; none: it may not"
    )
    webhook: Webhook | None = Field(
        default=None, description="called when a return the buyer asked for is decided"
    )

    @model_validator(mode="after")
    def _webhook_events(self) -> Buyer:
        wanted = self.webhook.events if self.webhook is not None else None
        if wanted and any(event is not WebhookEvent.RETURN for event in wanted):
            raise ValueError("a buyer's webhook is sent return decisions only: events [return]")
        return self


# --- filters -------------------------------------------------------------------------------


class FilterOp(StrEnum):
    """The fixed set of filter operators (README: "Filters")."""

    EQUALS = "equals"
    IN = "in"
    NOT_IN = "not_in"
    RANGE = "range"
    REGEX = "regex"
    EXISTS = "exists"
    ZIP_LIST = "zip_list"
    NEAR = "near"


MAX_RADIUS_MILES = 3000


class Near(Strict):
    """A circle around a ZIP code: leads whose ZIP lies within `miles` of it."""

    zip: str = Field(pattern=r"^\d{5}$", description="the centre, a 5-digit US ZIP code")
    miles: Decimal = Field(gt=0, le=MAX_RADIUS_MILES, description="the radius in miles")


_VALUES_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {
            "type": "array",
            "items": {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]},
        },
        {"type": "null"},
    ]
}


def _operand_text(value: object) -> object:
    """A list operand as text: 13 -> "13", true -> "true" (other types are left to fail)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    return value


class Filter(Strict):
    """One condition a lead must meet for the campaign to take it.

    On integer and number fields equals, in and not_in compare numbers ("09" is 9); on every
    other field they compare text. Every text comparison ignores case and surrounding spaces.
    A lead without the field fails every operator but `exists: false`.
    """

    field: str = Field(description="the vertical field (or derived field) the filter reads")
    op: FilterOp = Field(
        description="equals (value), in / not_in (values), range (min and/or max, inclusive), "
        "regex (pattern, searched anywhere, case-insensitive), exists (value true/false), "
        "zip_list (5-digit ZIPs or 3-digit prefixes), near (near: {zip, miles})"
    )
    value: str | int | Decimal | bool | None = Field(
        default=None, description="equals: the value; exists: true (present) or false (absent)"
    )
    values: Annotated[list[str] | None, WithJsonSchema(_VALUES_SCHEMA)] = Field(
        default=None,
        description="in / not_in / zip_list: the values (numbers compare as numbers on "
        "integer and number fields)",
    )
    min: Decimal | None = Field(default=None, description="range: the lowest value taken")
    max: Decimal | None = Field(default=None, description="range: the highest value taken")
    pattern: str | None = Field(
        default=None, description="regex: a Python regular expression, case-insensitive"
    )
    near: Near | None = Field(
        default=None, description="near: the ZIP code at the centre and the radius in miles"
    )

    @field_validator("values", mode="before")
    @classmethod
    def _values_as_text(cls, value: object) -> object:
        if isinstance(value, list):
            return [_operand_text(v) for v in value]
        return value

    @model_validator(mode="after")
    def _operands(self) -> Filter:
        op = self.op
        if op is FilterOp.EQUALS and self.value is None:
            raise ValueError("equals needs value")
        if op in (FilterOp.IN, FilterOp.NOT_IN, FilterOp.ZIP_LIST) and not self.values:
            raise ValueError(f"{op.value} needs a non-empty values list")
        if op is FilterOp.RANGE and self.min is None and self.max is None:
            raise ValueError("range needs min and/or max")
        low, high = self.min, self.max
        if op is FilterOp.RANGE and low is not None and high is not None and low > high:
            raise ValueError("range min must be <= max")
        if op is FilterOp.REGEX:
            if not self.pattern:
                raise ValueError("regex needs pattern")
            try:
                compile_pattern(self.pattern, ignore_case=True)  # as eligibility runs it
            except ValueError as exc:
                raise ValueError(f"pattern is {exc}") from exc
        if op is FilterOp.ZIP_LIST and self.values:
            bad = [v for v in self.values if not re.fullmatch(r"\d{3,5}", v)]
            if bad:
                raise ValueError(f"zip_list takes 5-digit ZIPs or 3-digit prefixes, not {bad[:3]}")
        if op is FilterOp.NEAR:
            if self.near is None:
                raise ValueError("near needs near: {zip, miles}")
            if not known_zip(self.near.zip):
                raise ValueError(f"near.zip {self.near.zip!r} is not a known US ZIP code")
        elif self.near is not None:
            raise ValueError("near: applies to op near only")
        return self


# --- schedule ------------------------------------------------------------------------------

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
END_OF_DAY: Literal["24:00"] = "24:00"
DAY_US = 86_400_000_000


def _end_text(value: object) -> object:
    if isinstance(value, str) and value.strip() in ("24:00", "24:00:00"):
        return END_OF_DAY
    return value


def time_us(moment: time) -> int:
    """Microseconds since midnight."""
    return ((moment.hour * 60 + moment.minute) * 60 + moment.second) * 1_000_000 + (
        moment.microsecond
    )


class ScheduleWindow(Strict):
    """Days and hours (local to the schedule's zone) when the campaign takes leads.

    Half-open: open from start (included) until end (excluded), to the microsecond.
    """

    days: list[Day] = Field(default_factory=lambda: list(DAYS), min_length=1)
    start: time = Field(default=time(0, 0), description="opens at (included), HH:MM[:SS]")
    end: time | Literal["24:00"] = Field(
        default=END_OF_DAY,
        description="closes at (excluded), HH:MM[:SS] or 24:00; an end on second 59 "
        "(13:59:59) means the end of that second (14:00), and 23:59 means 24:00",
    )

    @field_validator("end", mode="before")
    @classmethod
    def _end_of_day(cls, value: object) -> object:
        return _end_text(value)

    @model_validator(mode="after")
    def _ordered(self) -> ScheduleWindow:
        if self.end_us <= time_us(self.start):
            raise ValueError("end must be after start (split overnight windows in two)")
        return self

    @property
    def end_us(self) -> int:
        """Where the window closes, in microseconds since midnight (excluded)."""
        end = self.end
        if isinstance(end, str):
            return DAY_US
        if end.microsecond == 0 and end.second == 59:  # written as "the last second"
            return time_us(end) + 1_000_000
        if (end.hour, end.minute, end.second, end.microsecond) == (23, 59, 0, 0):
            return DAY_US  # "23:59": the usual way of writing the end of the day
        return time_us(end)


class Schedule(Strict):
    """A weekly schedule in the campaign's IANA time zone, with dates off."""

    timezone: str = "UTC"
    windows: list[ScheduleWindow] = Field(
        default_factory=lambda: [ScheduleWindow()],
        min_length=1,
        description="when the campaign is open; default every day all day",
    )
    dates_off: list[date] = Field(
        default_factory=list,
        description="dates (YYYY-MM-DD, in the schedule's zone) the campaign is closed all day",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value


# --- caps ----------------------------------------------------------------------------------

Period = Literal["minute", "hourly", "daily", "weekly", "monthly", "lifetime"]
PERIODS: tuple[Period, ...] = ("minute", "hourly", "daily", "weekly", "monthly", "lifetime")

_CAP = "leads per {}; 0 closes the campaign"
_BUDGET = "money per {}; 0 closes the campaign"


class Budget(Strict):
    """Money a campaign may spend per period."""

    minute: Annotated[Money, Field(ge=0)] | None = Field(None, description=_BUDGET.format("minute"))
    hourly: Annotated[Money, Field(ge=0)] | None = Field(None, description=_BUDGET.format("hour"))
    daily: Annotated[Money, Field(ge=0)] | None = Field(None, description=_BUDGET.format("day"))
    weekly: Annotated[Money, Field(ge=0)] | None = Field(None, description=_BUDGET.format("week"))
    monthly: Annotated[Money, Field(ge=0)] | None = Field(None, description=_BUDGET.format("month"))
    lifetime: Annotated[Money, Field(ge=0)] | None = Field(
        None, description="money in all, ever; 0 closes the campaign"
    )


class Caps(Strict):
    """How many leads (and how much money) a campaign takes per period, in its zone."""

    minute: Annotated[int, Field(ge=0)] | None = Field(None, description=_CAP.format("minute"))
    hourly: Annotated[int, Field(ge=0)] | None = Field(None, description=_CAP.format("hour"))
    daily: Annotated[int, Field(ge=0)] | None = Field(None, description=_CAP.format("day"))
    weekly: Annotated[int, Field(ge=0)] | None = Field(None, description=_CAP.format("ISO week"))
    monthly: Annotated[int, Field(ge=0)] | None = Field(None, description=_CAP.format("month"))
    lifetime: Annotated[int, Field(ge=0)] | None = Field(
        None, description="leads in all, ever; 0 closes the campaign"
    )
    budget: Budget = Field(default_factory=Budget)

    def limits(self) -> list[tuple[Period, int | None, Decimal | None]]:
        """Each period that has a count or budget limit."""
        return self._limits

    @cached_property
    def _limits(self) -> list[tuple[Period, int | None, Decimal | None]]:
        # Asked for every campaign of every lead: worked out once per configuration.
        out: list[tuple[Period, int | None, Decimal | None]] = []
        for period in PERIODS:
            count = getattr(self, period)
            money = getattr(self.budget, period)
            if count is not None or money is not None:
                out.append((period, count, money))
        return out

    @cached_property
    def closed(self) -> str | None:
        """Why a cap of 0 closes the campaign, if one does."""
        for period, count, money in self._limits:
            if count == 0:
                return f"{period} cap 0: closed"
            if money is not None and money == 0:
                return f"{period} budget 0: closed"
        return None


# --- price ---------------------------------------------------------------------------------


class PriceType(StrEnum):
    """Fixed CPL, or whatever the buyer bids."""

    FIXED = "fixed"
    BID = "bid"


class PostPrice(StrEnum):
    """What a sale is booked at when the post's answer states a price other than the bid."""

    BID = "bid"
    ANSWER = "answer"
    LOWER = "lower"


DEFAULT_MAX_PRICE = Decimal("1000.00")
# Fifty buyers of a shared lead at this price still add up to an amount every column holds.
HIGHEST_MAX_PRICE = Decimal("1000000.00")


class Price(Strict):
    """What a campaign pays for a lead."""

    type: PriceType = PriceType.FIXED
    amount: Money | None = None
    floor: Money = Decimal("0")
    max_price: Annotated[Money, Field(gt=0, le=HIGHEST_MAX_PRICE)] = Field(
        default=DEFAULT_MAX_PRICE,
        description="the largest bid or price this buyer's answers may state; "
        "a larger one is an invalid_bid",
    )
    post_price: PostPrice = Field(
        default=PostPrice.BID,
        description="the price booked when the post's answer states another: "
        "bid, answer, or the lower of the two",
    )

    @model_validator(mode="after")
    def _complete(self) -> Price:
        if self.type is PriceType.FIXED and self.amount is None:
            raise ValueError("a fixed price needs amount")
        if self.floor > self.max_price:
            raise ValueError(f"floor ({self.floor}) must be <= max_price ({self.max_price})")
        return self

    def booked(self, agreed: Decimal, answered: Decimal | None) -> Decimal:
        """The price a sale is booked at: agreed (bid or fixed amount) vs the post's answer."""
        if answered is None or self.post_price is PostPrice.BID:
            return agreed
        if self.post_price is PostPrice.ANSWER:
            return answered
        return min(agreed, answered)


# --- delivery ------------------------------------------------------------------------------


class Exchange(StrEnum):
    """Which of a campaign's two exchanges with its buyer: the ping (no PII, for a bid or a
    yes) or the post (the whole lead, for the sale)."""

    PING = "ping"
    POST = "post"


class Outcome(StrEnum):
    """How a buyer answered a ping or post."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    ERROR = "error"
    TIMEOUT = "timeout"


class Source(StrEnum):
    """Where in the buyer's response a rule looks."""

    STATUS = "status"
    JSON = "json"
    XPATH = "xpath"
    CSS = "css"
    REGEX = "regex"
    BODY = "body"
    HEADER = "header"
    COOKIE = "cookie"


CAPTURE_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"


class Extract(Strict):
    """Where a value (price, reference, reason, redirect URL, a capture) sits in a response."""

    source: Source = Source.JSON
    path: str = Field(
        default="$",
        min_length=1,
        description="JSONPath (json), XPath 1.0 (xpath), CSS selector with optional "
        "::text or ::attr(name) (css), regular expression, group 1 or named groups (regex), "
        "header name (header), cookie name or * (cookie); unused for status and body",
    )

    @field_validator("path")
    @classmethod
    def _compiles(cls, value: str, info: ValidationInfo) -> str:
        source = info.data.get("source")
        if isinstance(source, Source):
            compile_selector(source.value, value)  # ValueError names what is wrong
        return value

    @model_validator(mode="after")
    def _path_given(self) -> Extract:
        needs = {Source.HEADER: "a header name", Source.REGEX: "a regular expression"}
        if self.source in needs and "path" not in self.model_fields_set:
            raise ValueError(f"source {self.source.value} needs path ({needs[self.source]})")
        return self

    @cached_property
    def selector(self) -> Selector:
        """The compiled path (compiled and cached when the configuration was validated)."""
        return compile_selector(self.source.value, self.path)


class ResponseRule(Extract):
    """If a value at path passes the test, the answer has this outcome. First match wins."""

    path: str = Field(default="$", min_length=1)
    equals: str | None = Field(default=None, description="equal after trimming, case-insensitive")
    contains: str | None = Field(default=None, description="a search term, case-insensitive")
    matches: str | None = Field(
        default=None, description="a regular expression; its named groups are captured"
    )
    exists: bool | None = Field(
        default=None, description="true: some non-blank value is there; false: none is"
    )
    outcome: Outcome

    @field_validator("matches")
    @classmethod
    def _matches_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            compile_pattern(value)
        return value

    @model_validator(mode="after")
    def _one_test(self) -> ResponseRule:
        tests = [
            t for t in (self.equals, self.contains, self.matches, self.exists) if t is not None
        ]
        if len(tests) != 1:
            raise ValueError("a rule needs exactly one of equals, contains, matches, exists")
        if self.outcome is Outcome.TIMEOUT:
            raise ValueError("timeout is measured, not read from a response")
        return self


class ResponseRules(Strict):
    """How to read a buyer's answer. 3xx and 5xx are always errors, whatever the rules say."""

    rules: list[ResponseRule] = Field(min_length=1)
    otherwise: Outcome = Field(
        default=Outcome.ERROR, description="the outcome of an answer no rule matches"
    )
    price: Extract | None = None
    reference: Extract | None = None
    reason: Extract | None = Field(
        default=None,
        description="several values are trimmed, de-duplicated, sorted and joined with ', '",
    )
    redirect_url: Extract | None = None
    capture: dict[Annotated[str, Field(pattern=CAPTURE_NAME)], Extract] = Field(
        default_factory=dict,
        description="named values stored on the attempt (a buyer's lead id...)",
    )
    default_reason: str = Field(
        default="rejected by buyer",
        min_length=1,
        description="the reason of a rejected answer that states none",
    )
    server_error_reason: str | None = Field(
        default=None,
        description="the reason of a 5xx answer that states none (default: 'HTTP <status>')",
    )

    @field_validator("otherwise")
    @classmethod
    def _not_timeout(cls, value: Outcome) -> Outcome:
        if value is Outcome.TIMEOUT:
            raise ValueError("timeout is measured, not read from a response")
        return value


class BodyFormat(StrEnum):
    """How a request body is encoded."""

    JSON = "json"
    FORM = "form"
    XML = "xml"


class Endpoint(Strict):
    """One HTTP request a campaign is sent (its ping or its post)."""

    url: str = Field(pattern=r"^https?://")
    test_url: str | None = Field(default=None, pattern=r"^https?://")
    method: Literal["POST", "PUT", "GET"] = "POST"
    format: BodyFormat = BodyFormat.JSON
    template: str | None = Field(
        default=None,
        description="Jinja2 template of the body; gets `lead` (fields), `lead_id`, `bid_id`, "
        "`test`, and in a post `consent` (id, sha256, url, expires_at; none without consent)",
    )
    headers: dict[str, str] = Field(default_factory=dict)
    response: ResponseRules


class Auth(Strict):
    """Credentials sent with every request to the buyer."""

    type: Literal["basic", "bearer"]
    username: str | None = None
    password: str | None = None
    token: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> Auth:
        if self.type == "basic" and (self.username is None or self.password is None):
            raise ValueError("basic auth needs username and password")
        if self.type == "bearer" and not self.token:
            raise ValueError("bearer auth needs token")
        if MASK in (self.password, self.token):
            raise ValueError(f"{MASK} is a masked value (from an export): give the real one")
        return self


class Signing(Strict):
    """An HMAC-SHA256 signature over each ping and post, with a timestamp (Stripe-style)."""

    secret: str = Field(description="a declared secret, e.g. '{{ secrets.signing }}'")
    header: str = Field(default="X-Pingtree-Signature", pattern=r"^[A-Za-z0-9-]{1,64}$")

    @field_validator("secret")
    @classmethod
    def _a_reference(cls, value: str) -> str:
        if not is_reference(value):
            raise ValueError("must name a declared secret, e.g. '{{ secrets.signing }}'")
        return value


SecretName = Annotated[str, StringConstraints(pattern=SECRET_NAME)]


class Delivery(Strict):
    """How leads reach the buyer: a ping (for bids) and/or a post (the full lead)."""

    ping: Endpoint | None = None
    post: Endpoint | None = Field(
        default=None, description="the post endpoint (the full lead); a call campaign's is the dial"
    )
    auth: Auth | None = None
    ping_fields: list[str] | None = Field(
        default=None, description="fields a ping may carry; default all non-PII; PII never"
    )
    timeout_ms: int = Field(default=3000, gt=0, le=120_000)
    secrets: dict[SecretName, SecretSpec] = Field(
        default_factory=dict,
        description="credentials used as {{ secrets.NAME }}: {env: VAR}, enc:... or clear "
        "(encrypted when applied)",
    )
    signing: Signing | None = None

    def secret_uses(self) -> list[tuple[str, str]]:
        """(key, text) of every setting that may refer to a secret."""
        uses: list[tuple[str, str | None]] = []
        if self.auth is not None:
            uses += [
                (f"auth.{k}", getattr(self.auth, k)) for k in ("username", "password", "token")
            ]
        for label, endpoint in (("ping", self.ping), ("post", self.post)):
            if endpoint is None:
                continue
            uses += [(f"{label}.url", endpoint.url), (f"{label}.test_url", endpoint.test_url)]
            uses += [(f"{label}.template", endpoint.template)]
            uses += [(f"{label}.headers.{k}", v) for k, v in endpoint.headers.items()]
        if self.signing is not None:
            uses.append(("signing.secret", self.signing.secret))
        return [(key, text) for key, text in uses if text]

    @model_validator(mode="after")
    def _secrets_declared(self) -> Delivery:
        for key, text in self.secret_uses():
            for name in sorted(references(text) - set(self.secrets)):
                declared = ", ".join(sorted(self.secrets)) or "none"
                raise ValueError(
                    f"{key} refers to undeclared secret {name!r} (declared: {declared})"
                )
        return self


class Campaign(Strict):
    """A buyer's order: which leads, when, how many, at what price, delivered how."""

    name: str = Field(pattern=NAME_PATTERN)
    buyer: str
    vertical: str
    active: bool = True
    filters: list[Filter] = Field(default_factory=list)
    schedule: Schedule | None = None
    caps: Caps = Field(default_factory=Caps)
    price: Price
    delivery: Delivery
    call: CallTerms | None = Field(
        default=None,
        description="buys phone calls: where to dial, how long it rings, the minimum "
        "duration a call is paid after, live calls at once",
    )

    @model_validator(mode="after")
    def _bid_needs_ping(self) -> Campaign:
        if self.price.type is PriceType.BID and self.delivery.ping is None:
            raise ValueError("a bid-priced campaign needs delivery.ping to ask for its bid")
        if self.delivery.post is None and self.call is None:
            raise ValueError("delivery.post is required (only a campaign that buys calls has none)")
        return self
