"""Each offline check on real data, and the stable code it reports."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import disposable_email_domains
import pytest
import zipcodes

from pingtree.screening._area_codes import AREA_CODE_STATES
from pingtree.screening.areacodes import build_area_code_states, render
from pingtree.screening.checks import (
    Finding,
    check_email,
    check_field_rule,
    check_ip,
    check_phone,
    check_zip,
    fake_phone_reason,
    ip_problem,
    is_disposable_domain,
    is_role_local_part,
    zip_states,
    zip_table,
)
from pingtree.screening.model import DEFAULT_PENALTY, CheckConfig, Code
from pingtree.screening.regions import normalize_state


def codes(findings: list[Finding]) -> list[str]:
    return [item.code.value for item in findings]


# --- email ------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["jane.smith@example.com", "jsmith@yahoo.com", "jo@gmail.com"])
def test_clean_email_has_no_findings(raw: str) -> None:
    assert check_email(raw) == []


@pytest.mark.parametrize("raw", ["jane.smith@", "@gmail.com", "jane smith@gmail.com", "jane@gmail"])
def test_invalid_email(raw: str) -> None:
    assert codes(check_email(raw)) == ["invalid_email"]


@pytest.mark.parametrize(
    "domain", ["mailinator.com", "guerrillamail.com", "10minutemail.com", "yopmail.com"]
)
def test_disposable_email_from_the_package_list(domain: str) -> None:
    assert domain in disposable_email_domains.blocklist
    assert codes(check_email(f"jane@{domain}")) == ["disposable_email"]


def test_disposable_email_matches_subdomains_and_case() -> None:
    assert codes(check_email("jane@Inbox.MAILINATOR.com")) == ["disposable_email"]
    assert is_disposable_domain("deep.sub.mailinator.com")
    assert not is_disposable_domain("gmail.com")
    # The TLD alone is never looked up, so "com" on the list could not flag everything.
    assert not is_disposable_domain("com")


@pytest.mark.parametrize(
    "raw",
    [
        "admin@acme.com",
        "INFO@acme.com",
        "sales+leads@acme.com",
        "no-reply@acme.com",
        "no.reply@x.io",
    ],
)
def test_role_email(raw: str) -> None:
    assert codes(check_email(raw)) == ["role_email"]


def test_role_and_disposable_together() -> None:
    assert codes(check_email("info@mailinator.com")) == ["disposable_email", "role_email"]


def test_role_local_parts_are_not_substrings() -> None:
    assert is_role_local_part("support")
    assert not is_role_local_part("supportive.sam")
    assert not is_role_local_part("adminah")


def test_empty_email_is_not_checked() -> None:
    assert check_email(None) == []
    assert check_email("  ") == []


def test_finding_carries_field_and_default_penalty() -> None:
    (item,) = check_email("bad", field="work_email")
    assert item.field == "work_email"
    assert item.penalty == DEFAULT_PENALTY[Code.INVALID_EMAIL]
    assert "bad" not in item.message  # messages never echo the lead's value


# --- phone ------------------------------------------------------------------------------

# Public numbers of city halls and agencies: real, valid, and in a known state.
REAL_NUMBERS = [
    ("(212) 736-5000", "NY"),
    ("(415) 701-2311", "CA"),
    ("(312) 744-5000", "IL"),
    ("(512) 974-2000", "TX"),
    ("(202) 456-1111", "DC"),
    ("(907) 343-4311", "AK"),
    ("(416) 392-2489", "ON"),
    ("(604) 873-7000", "BC"),
    ("(613) 580-2400", "ON"),
]


@pytest.mark.parametrize(("raw", "state"), REAL_NUMBERS)
def test_real_number_in_its_state_is_clean(raw: str, state: str) -> None:
    assert check_phone(raw, state) == []


def test_state_can_be_a_full_name() -> None:
    assert check_phone("(212) 736-5000", "New York") == []
    assert check_phone("(416) 392-2489", "ontario") == []


@pytest.mark.parametrize(
    "raw", ["212-736-500", "1234567891", "(212) 023-4568", "+44 20 7946 0958", "+1 787 722 1234"]
)
def test_invalid_phone(raw: str) -> None:
    assert codes(check_phone(raw)) == ["invalid_phone"]


def test_unparseable_phone() -> None:
    assert codes(check_phone("call me")) == ["invalid_phone"]


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("(212) 555-0123", "fiction"),
        ("(212) 555-0199", "fiction"),
        ("(415) 555-2671", "555"),
        ("(212) 555-1212", "555"),
        ("2222222222", "repeated"),
        ("8888888888", "repeated"),  # a valid toll-free number, still made up
        ("1234567890", "sequence"),
        ("9876543210", "sequence"),
        ("(212) 999-9999", "repeated"),
        ("(212) 234-5678", "sequence"),
        ("(312) 876-5432", "sequence"),
        ("1-900-225-5288", "premium"),
    ],
)
def test_fake_phone(raw: str, why: str) -> None:
    (item,) = check_phone(raw, "NY")
    assert item.code is Code.FAKE_PHONE
    assert why in item.message


def test_fake_reason_leaves_real_numbers_alone() -> None:
    for raw, _state in REAL_NUMBERS:
        digits = "".join(ch for ch in raw if ch.isdigit())
        assert fake_phone_reason(digits) is None


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("(212) 736-5000", "CA"),
        ("(415) 701-2311", "NY"),
        ("(416) 392-2489", "BC"),
        ("(604) 873-7000", "WA"),
        ("(202) 456-1111", "VA"),
    ],
)
def test_phone_state_mismatch(raw: str, state: str) -> None:
    (item,) = check_phone(raw, state)
    assert item.code is Code.PHONE_STATE_MISMATCH
    assert state in item.message


def test_unknown_state_is_a_mismatch() -> None:
    assert codes(check_phone("(212) 736-5000", "ZZ")) == ["phone_state_mismatch"]


def test_toll_free_is_never_a_state_mismatch() -> None:
    assert check_phone("1-800-275-8777", "CA") == []
    assert check_phone("1-888-275-8747", "NY") == []


def test_no_state_means_no_area_code_check() -> None:
    assert check_phone("(212) 736-5000") == []
    assert check_phone("(212) 736-5000", "") == []


@pytest.mark.parametrize(
    ("area_code", "states"),
    [
        ("212", {"NY"}),
        ("415", {"CA"}),
        ("312", {"IL"}),
        ("202", {"DC"}),
        ("206", {"WA"}),
        ("305", {"FL"}),
        ("416", {"ON"}),
        ("514", {"QC"}),
        ("604", {"BC"}),
        ("902", {"NS", "PE"}),
        ("867", {"NT", "NU", "YT"}),
    ],
)
def test_area_code_table(area_code: str, states: set[str]) -> None:
    assert AREA_CODE_STATES[area_code] == states


def test_non_geographic_area_codes_have_no_state() -> None:
    for code in ("800", "833", "844", "855", "866", "877", "888", "900", "500", "600"):
        assert code not in AREA_CODE_STATES


def test_shipped_area_code_table_matches_installed_phonenumbers() -> None:
    # Fails after a phonenumbers upgrade that adds or moves area codes: regenerate with
    # `python -m pingtree.screening.areacodes`.
    built = build_area_code_states()
    assert built == AREA_CODE_STATES
    assert len(built) > 400


def test_render_round_trips() -> None:
    namespace: dict[str, object] = {}
    exec(render(AREA_CODE_STATES), namespace)
    assert namespace["AREA_CODE_STATES"] == AREA_CODE_STATES


# --- ZIP --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("90210", "CA"),
        ("10001", "NY"),
        ("60601", "IL"),
        ("02134", "MA"),
        (2134, "MA"),  # sent as a JSON number, leading zero lost
        ("20500", "DC"),
        ("00501", "NY"),
        ("00901", "PR"),
        ("90210-1234", "CA"),
        ("902101234", "CA"),
        ("M5V 3L9", "ON"),
        ("h2y1c6", "QC"),
        ("X0A 0H0", "NU"),
    ],
)
def test_real_zip_in_its_state_is_clean(raw: object, state: str) -> None:
    assert check_zip(raw, state) == []


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("00000", "does not exist"),
        ("99999", "does not exist"),
        ("01133", "retired"),
        ("9021", "not a US ZIP"),
        ("ABCDE", "not a US ZIP"),
        ("D5V 3L9", "not a US ZIP"),  # Canada Post never uses D
        ("90210-12", "not a US ZIP"),
    ],
)
def test_invalid_zip(raw: str, why: str) -> None:
    (item,) = check_zip(raw, "CA")
    assert item.code is Code.INVALID_ZIP
    assert why in item.message


@pytest.mark.parametrize(
    ("raw", "state"),
    [("90210", "NY"), ("10001", "NJ"), ("60601", "Indiana"), ("M5V 3L9", "QC"), ("90210", "??")],
)
def test_zip_state_mismatch(raw: str, state: str) -> None:
    assert codes(check_zip(raw, state)) == ["zip_state_mismatch"]


def test_zip_without_state_only_checks_existence() -> None:
    assert check_zip("90210") == []
    assert codes(check_zip("00000")) == ["invalid_zip"]


def test_zip_table_agrees_with_zipcodes() -> None:
    table = zip_table()
    matching: Callable[[str], list[dict[str, Any]]] = zipcodes.matching
    list_all: Callable[[], list[dict[str, Any]]] = zipcodes.list_all
    for zip_code in ("90210", "10001", "60601", "02134", "01133", "96799", "09001"):
        (entry,) = matching(zip_code)
        assert table[zip_code] == (entry["state"], entry["active"])
    assert len(table) == len(list_all())


def test_zip_states_for_canadian_territories() -> None:
    assert zip_states("X1A 2L9") == frozenset({"NT", "NU"})


# --- IP ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", ["8.8.8.8", "1.1.1.1", "73.162.14.9", "2606:4700:4700::1111", "2001:4860:4860::8888"]
)
def test_public_ip_is_clean(raw: str) -> None:
    assert check_ip(raw) == []


@pytest.mark.parametrize("raw", ["999.1.1.1", "1.2.3", "8.8.8.8:443", "localhost", "::g"])
def test_invalid_ip(raw: str) -> None:
    assert codes(check_ip(raw)) == ["invalid_ip"]


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("10.1.2.3", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.10", "private"),
        ("127.0.0.1", "loopback"),
        ("169.254.10.1", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.254", "carrier-grade NAT"),
        ("192.0.2.1", "documentation"),
        ("198.51.100.7", "documentation"),
        ("203.0.113.9", "documentation"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("0.0.0.0", "unspecified"),
        ("255.255.255.255", "reserved"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "documentation"),
        ("3fff::1", "documentation"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:127.0.0.1", "loopback"),
    ],
)
def test_non_public_ip(raw: str, why: str) -> None:
    (item,) = check_ip(raw)
    assert item.code is Code.NON_PUBLIC_IP
    assert why in item.message


def test_ip_problem_on_mapped_public_address() -> None:
    assert ip_problem(ipaddress.ip_address("::ffff:8.8.8.8")) is None


# --- field rules ------------------------------------------------------------------------


def rule(**params: object) -> CheckConfig:
    return CheckConfig.model_validate({"check": "field_rule", **params})


@pytest.mark.parametrize("value", [600, "600", "720", 850.0, Decimal("601")])
def test_field_rule_min_passes(value: object) -> None:
    assert check_field_rule(value, rule(field="credit_score", min=600)) == []


@pytest.mark.parametrize("value", [599, "550", 0, "-1"])
def test_field_rule_min_fails(value: object) -> None:
    (item,) = check_field_rule(value, rule(field="credit_score", min=600))
    assert item.code is Code.FIELD_RULE
    assert item.field == "credit_score"
    assert item.message == "credit_score is below the minimum 600"


def test_field_rule_max() -> None:
    infractions = rule(field="infractions", max=2)
    assert check_field_rule(2, infractions) == []
    assert codes(check_field_rule(3, infractions)) == ["field_rule"]


@pytest.mark.parametrize("value", ["abc", "nan", "inf", True, [1]])
def test_field_rule_needs_a_number(value: object) -> None:
    (item,) = check_field_rule(value, rule(field="credit_score", min=600))
    assert item.message == "credit_score is not a number"


def test_field_rule_in_and_not_in() -> None:
    homeowner = rule(field="homeowner", **{"in": ["yes", "Own"]})
    assert check_field_rule("YES", homeowner) == []
    assert check_field_rule(" own ", homeowner) == []
    assert codes(check_field_rule("rent", homeowner)) == ["field_rule"]
    excluded = rule(field="state", not_in=["NY", "ca"])
    assert codes(check_field_rule("CA", excluded)) == ["field_rule"]
    assert check_field_rule("TX", excluded) == []


def test_field_rule_missing_value() -> None:
    assert check_field_rule(None, rule(field="credit_score", min=600)) == []
    assert check_field_rule("  ", rule(field="credit_score", min=600)) == []
    required = rule(field="credit_score", min=600, required=True)
    assert check_field_rule(None, required)[0].message == "credit_score is missing"


# --- states -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ny", "NY"),
        (" California ", "CA"),
        ("District of Columbia", "DC"),
        ("Québec", "QC"),
        ("ON", "ON"),
        ("AE", "AE"),
        ("Narnia", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_state(raw: object, expected: str | None) -> None:
    assert normalize_state(raw) == expected


# --- odd value types --------------------------------------------------------------------


def test_present_non_text_values_fail_rather_than_pass() -> None:
    # A value of the wrong type is not "missing": it must not slip past the check.
    assert codes(check_phone(2127365000.0)) == ["invalid_phone"]
    assert codes(check_phone(True)) == ["invalid_phone"]
    assert codes(check_email(["jane@example.com"])) == ["invalid_email"]
    assert codes(check_zip(90210.0)) == ["invalid_zip"]
    assert codes(check_zip("９０２１０")) == ["invalid_zip"]  # full-width digits
    assert codes(check_ip(134744072)) == ["invalid_ip"]


def test_integer_phone_is_read_as_digits() -> None:
    assert check_phone(2127365000, "NY") == []
