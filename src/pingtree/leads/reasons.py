"""Every reason code a publisher may be answered, with its meaning: the one list.

The posting spec (config/posting_spec.py) prints it and the README's table follows it
(tests/leads/test_reason_codes.py checks both ways: no code answered that is not here,
no code in the README's table that is not here).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReasonCode:
    """A stable code: the HTTP status or lead status it comes with, and what it means."""

    code: str
    answer: str
    meaning: str


REASON_CODES: tuple[ReasonCode, ...] = (
    # refused before the lead is taken
    ReasonCode("missing_api_key", "401", "no X-API-Key header"),
    ReasonCode("invalid_api_key", "401", "the API key belongs to no publisher"),
    ReasonCode("publisher_inactive", "403", "the publisher is paused"),
    ReasonCode(
        "invalid_request", "422", "the body is not a lead (bad JSON, unknown key); `field` names it"
    ),
    ReasonCode("invalid_field", "422", "a field fails its vertical definition; `field` names it"),
    ReasonCode("missing_consent", "422", "the vertical or publisher needs a consent certificate"),
    ReasonCode(
        "invalid_consent", "422", "a part of the consent certificate is missing or invalid; `field`"
    ),
    ReasonCode("consent_too_old", "422", "the consent is older than the configured max_age"),
    ReasonCode(
        "consent_names_no_seller",
        "422",
        "the consent names no sellers, and the vertical or publisher refuses such leads",
    ),
    ReasonCode("unknown_vertical", "422", "no vertical of that name"),
    ReasonCode("not_routed", "422", "the publisher has no route for the vertical (or band)"),
    ReasonCode(
        "idempotency_key_reused", "422", "this Idempotency-Key was used for a different lead"
    ),
    ReasonCode("idempotency_conflict", "409", "the first request with this key failed; retry"),
    ReasonCode(
        "idempotency_in_progress",
        "409",
        "the first request with this key is still being routed; retry",
    ),
    ReasonCode(
        "rate_limited",
        "429",
        "the publisher's intake rate was used up; nothing was stored; retry after `Retry-After`",
    ),
    ReasonCode("busy", "503 or unsold", "the process or database could not take it in time; retry"),
    ReasonCode("unavailable", "503", "a failure inside pingtree; retry"),
    ReasonCode("not_found", "404", "no such lead from this publisher"),
    # ping then post
    ReasonCode("unknown_ping", "404", "no ping with that ping_id from this publisher"),
    ReasonCode("ping_expired", "410", "the ping's price offer expired; ping again"),
    ReasonCode("ping_used", "409", "a post was already made for this ping"),
    ReasonCode("no_bid", "ping no_bid", "no buyer bid on this lead now"),
    ReasonCode("pii_in_ping", "422", "a ping carries no PII: send those fields in the post"),
    ReasonCode("post_differs_from_ping", "422", "the post's fields differ from the ping's"),
    ReasonCode(
        "sold_below_offer",
        "sold",
        "the winning bidder declined the post; a lower bid bought it, for a lower payout",
    ),
    # screening (status rejected, or review)
    ReasonCode("invalid_email", "rejected", "not a valid email address (syntax, no DNS lookups)"),
    ReasonCode("disposable_email", "rejected", "a throwaway email domain"),
    ReasonCode("role_email", "rejected", "a role address (info@, admin@, sales@, noreply@ ...)"),
    ReasonCode("invalid_phone", "rejected", "not a valid US or Canadian phone number"),
    ReasonCode("fake_phone", "rejected", "555 numbers, one repeated digit, digit runs, 900 lines"),
    ReasonCode("phone_state_mismatch", "rejected", "the area code does not serve the lead's state"),
    ReasonCode("invalid_zip", "rejected", "the ZIP code does not exist"),
    ReasonCode("zip_state_mismatch", "rejected", "the ZIP is not in the lead's state"),
    ReasonCode("invalid_ip", "rejected", "not an IP address"),
    ReasonCode("non_public_ip", "rejected", "a private, loopback, reserved or CGNAT address"),
    ReasonCode("field_rule", "rejected", "a vertical rule on a field failed"),
    ReasonCode("low_score", "rejected", "the risk score fell under reject_below or review_below"),
    ReasonCode(
        "duplicate",
        "rejected",
        "the same person (normalised email or phone) within the dedup window",
    ),
    ReasonCode("suppressed", "rejected", "on the global or the publisher's do-not-contact list"),
    ReasonCode("rejected_in_review", "rejected", "a reviewer rejected the flagged lead"),
    # routing (status unsold or uncertain)
    ReasonCode("no_eligible_buyer", "unsold", "no campaign could take the lead"),
    ReasonCode("no_buyer_accepted", "unsold", "the buyers offered the lead declined it"),
    ReasonCode("timeout", "unsold", "the tree's maximum processing time ran out"),
    ReasonCode(
        "interrupted", "unsold", "a crash ended its routing before any post; recovery answered it"
    ),
    ReasonCode(
        "uncertain",
        "uncertain",
        "a crash came between a post and its answer; an operator resolves it",
    ),
    ReasonCode("not_sold", "unsold", "an operator resolved its uncertain post as not sold"),
    ReasonCode("internal_error", "unsold", "a failure inside pingtree while routing"),
)

BY_CODE: dict[str, ReasonCode] = {reason.code: reason for reason in REASON_CODES}
