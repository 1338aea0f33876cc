"""Offline screening checks on email, phone, ZIP, IP and vertical fields."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

import disposable_email_domains
import phonenumbers
import zipcodes

from pingtree.identity import (
    ParsedEmail,
    is_us_ca_number,
    parse_email,
    parse_phone_any,
    text,
)
from pingtree.screening._area_codes import AREA_CODE_STATES
from pingtree.screening.model import DEFAULT_PENALTY, Action, CheckConfig, Code
from pingtree.screening.regions import US_STATES, normalize_state


@dataclass(frozen=True, slots=True)
class Finding:
    """One reason a lead looks risky: stable code, the field, a message and its cost."""

    code: Code
    field: str
    message: str
    penalty: int
    action: Action = Action.SCORE


def finding(code: Code, field: str, message: str) -> Finding:
    """A finding with the code's default penalty; assess stamps the configured one."""
    return Finding(code=code, field=field, message=message, penalty=DEFAULT_PENALTY[code])


# --- email ------------------------------------------------------------------------------

# Local parts that reach a function or a team rather than the person who filled the form;
# compared with dots, dashes and underscores removed so no-reply/no.reply/no_reply match.
ROLE_LOCAL_PARTS = frozenset(
    {
        "abuse",
        "accounting",
        "accounts",
        "admin",
        "administrator",
        "billing",
        "careers",
        "compliance",
        "contact",
        "contactus",
        "customercare",
        "customerservice",
        "customersupport",
        "devnull",
        "dns",
        "donotreply",
        "enquiries",
        "enquiry",
        "feedback",
        "finance",
        "ftp",
        "help",
        "helpdesk",
        "hostmaster",
        "hr",
        "info",
        "information",
        "inquiries",
        "inquiry",
        "investorrelations",
        "it",
        "jobs",
        "legal",
        "mail",
        "mailerdaemon",
        "marketing",
        "media",
        "news",
        "newsletter",
        "noc",
        "noreply",
        "nospam",
        "null",
        "office",
        "operations",
        "orders",
        "postmaster",
        "press",
        "privacy",
        "purchasing",
        "recruiting",
        "recruitment",
        "root",
        "sales",
        "security",
        "service",
        "services",
        "spam",
        "support",
        "sysadmin",
        "team",
        "tech",
        "usenet",
        "uucp",
        "webmaster",
        "www",
    }
)
_ROLE_SEPARATORS = str.maketrans("", "", ".-_")


def is_role_local_part(local: str) -> bool:
    """Whether an email local part names a role (admin, sales, noreply...)."""
    base = local.split("+", 1)[0].lower().translate(_ROLE_SEPARATORS)
    return base in ROLE_LOCAL_PARTS


_DISPOSABLE = frozenset(disposable_email_domains.blocklist) - frozenset(
    disposable_email_domains.allowlist
)


def is_disposable_domain(ascii_domain: str) -> bool:
    """Whether the domain, or a parent of it, is on the disposable-email blocklist."""
    labels = ascii_domain.lower().rstrip(".").split(".")
    # Subdomains of a throwaway service are throwaway too; stop before the bare TLD.
    return any(".".join(labels[i:]) in _DISPOSABLE for i in range(len(labels) - 1))


def email_findings(parsed: ParsedEmail | None, *, field: str) -> list[Finding]:
    """Findings for an email value that is present; parsed is None when it did not parse."""
    if parsed is None:
        return [finding(Code.INVALID_EMAIL, field, "email address is not valid")]
    found: list[Finding] = []
    if is_disposable_domain(parsed.ascii_domain):
        found.append(
            finding(Code.DISPOSABLE_EMAIL, field, "email domain is a disposable-address service")
        )
    if is_role_local_part(parsed.local):
        found.append(finding(Code.ROLE_EMAIL, field, "email address is a role account"))
    return found


def check_email(raw: object, *, field: str = "email") -> list[Finding]:
    """Syntax (no DNS), disposable domain and role address checks on an email."""
    if text(raw) is None:
        return []
    return email_findings(parse_email(raw), field=field)


# --- phone ------------------------------------------------------------------------------


# NANP premium-rate (pay-per-call) lines: never a consumer's own contact number.
PREMIUM_AREA_CODES = frozenset({"900"})
_SEQUENCES = frozenset({"0123456789", "1234567890", "9876543210", "0987654321"})
_RUNS = "01234567890"


def fake_phone_reason(national: str) -> str | None:
    """Why a 10-digit NANP number is obviously made up, or None."""
    if len(set(national)) == 1:
        return "phone number is one repeated digit"
    if national in _SEQUENCES:
        return "phone number is a digit sequence"
    exchange, line = national[3:6], national[6:]
    if exchange == "555":
        if line.startswith("01"):
            return "555-01xx numbers are reserved for fiction"
        # Outside 555-01xx the exchange holds directory assistance (555-1212) and a few
        # information-service lines; no consumer has a 555 number of their own.
        return "555 numbers are not assigned to subscribers"
    subscriber = national[3:]
    if len(set(subscriber)) == 1:
        return "phone number's last seven digits are one repeated digit"
    if subscriber in _RUNS or subscriber in _RUNS[::-1]:
        return "phone number's last seven digits are a digit sequence"
    return None


def phone_findings(
    number: phonenumbers.PhoneNumber | None, state: object, *, field: str
) -> list[Finding]:
    """Findings for a present phone value; number is None when it did not parse."""
    if number is None:
        return [finding(Code.INVALID_PHONE, field, "phone is not a phone number")]
    national = phonenumbers.national_significant_number(number)
    # Made-up numbers are reported as fake even when they are also invalid (1234567890):
    # that tells a publisher more than "invalid".
    if number.country_code == 1 and len(national) == 10:
        reason = fake_phone_reason(national)
        if reason is not None:
            return [finding(Code.FAKE_PHONE, field, reason)]
    if not is_us_ca_number(number):
        message = "phone number is not a valid US or Canadian number"
        return [finding(Code.INVALID_PHONE, field, message)]
    area_code = national[:3]
    if area_code in PREMIUM_AREA_CODES:
        return [finding(Code.FAKE_PHONE, field, "phone number is a premium-rate line")]
    if text(state) is None:
        return []
    # Toll-free and other non-geographic area codes have no state: never a mismatch.
    served = AREA_CODE_STATES.get(area_code)
    if served:
        lead_state = normalize_state(state)
        if lead_state is None:
            message = "state is not a known US state or Canadian province"
            return [finding(Code.PHONE_STATE_MISMATCH, field, message)]
        if lead_state not in served:
            message = f"area code {area_code} is not in {lead_state}"
            return [finding(Code.PHONE_STATE_MISMATCH, field, message)]
    return []


def check_phone(
    raw: object, state: object = None, *, field: str = "phone", region: str = "US"
) -> list[Finding]:
    """Valid US/CA number, not obviously fake, area code in the lead's state (if given)."""
    if text(raw) is None:
        return []
    return phone_findings(parse_phone_any(raw, region), state, field=field)


# --- ZIP / postal code ------------------------------------------------------------------


# The zipcodes package has no type hints; this pins down what the code relies on.
_zip_entries: Callable[..., list[dict[str, Any]]] = zipcodes.filter_by


@cache
def zip_table() -> dict[str, tuple[str, bool]]:
    """ZIP code -> (state, active), built once from the zipcodes package."""
    # zipcodes.matching scans its whole table per call (about 1 ms); one dict makes the
    # lookup O(1). Querying state by state keeps the Python objects the package creates
    # small at any moment, where list_all() would hold all 42k dicts at once.
    table: dict[str, tuple[str, bool]] = {}
    for state in US_STATES:
        for entry in _zip_entries(state=state):
            table[entry["zip_code"]] = (entry["state"], bool(entry["active"]))
    return table


_US_ZIP = re.compile(r"^(\d{5})(?:-?\d{4})?$", re.ASCII)
# Canada Post never uses D, F, I, O, Q or U, nor W and Z as the first letter.
_CA_POSTAL = re.compile(
    r"^([ABCEGHJ-NPRSTVXY])\d[ABCEGHJ-NPRSTV-Z]\d[ABCEGHJ-NPRSTV-Z]\d$", re.ASCII
)
_CA_PROVINCE_BY_LETTER: dict[str, frozenset[str]] = {
    "A": frozenset({"NL"}),
    "B": frozenset({"NS"}),
    "C": frozenset({"PE"}),
    "E": frozenset({"NB"}),
    "G": frozenset({"QC"}),
    "H": frozenset({"QC"}),
    "J": frozenset({"QC"}),
    "K": frozenset({"ON"}),
    "L": frozenset({"ON"}),
    "M": frozenset({"ON"}),
    "N": frozenset({"ON"}),
    "P": frozenset({"ON"}),
    "R": frozenset({"MB"}),
    "S": frozenset({"SK"}),
    "T": frozenset({"AB"}),
    "V": frozenset({"BC"}),
    "X": frozenset({"NT", "NU"}),
    "Y": frozenset({"YT"}),
}


def zip_states(raw: object) -> frozenset[str] | str:
    """States a US ZIP or Canadian postal code belongs to, or why it is not valid."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        # A ZIP sent as a JSON number has lost its leading zeros (02134 -> 2134).
        raw = f"{raw:05d}"
    value = text(raw)
    if value is None:
        return "ZIP code is empty"
    us = _US_ZIP.match(value)
    if us:
        entry = zip_table().get(us.group(1))
        if entry is None:
            return "ZIP code does not exist"
        state, active = entry
        if not active:
            return "ZIP code has been retired"
        return frozenset({state})
    ca = _CA_POSTAL.match(value.upper().replace(" ", "").replace("-", ""))
    if ca:
        # Format and first letter only: no offline list of Canadian postal codes exists.
        return _CA_PROVINCE_BY_LETTER[ca.group(1)]
    return "not a US ZIP code or Canadian postal code"


def check_zip(raw: object, state: object = None, *, field: str = "zip") -> list[Finding]:
    """ZIP exists (US) or is well formed (CA), and belongs to the lead's state (if given)."""
    if text(raw) is None:
        return []
    states = zip_states(raw)
    if isinstance(states, str):
        return [finding(Code.INVALID_ZIP, field, states)]
    if text(state) is None:
        return []
    lead_state = normalize_state(state)
    if lead_state is None:
        message = "state is not a known US state or Canadian province"
        return [finding(Code.ZIP_STATE_MISMATCH, field, message)]
    if lead_state not in states:
        return [finding(Code.ZIP_STATE_MISMATCH, field, f"ZIP code is not in {lead_state}")]
    return []


# --- IP ---------------------------------------------------------------------------------

_SHARED = ipaddress.ip_network("100.64.0.0/10")
_DOCUMENTATION = tuple(
    ipaddress.ip_network(net)
    for net in (
        "192.0.2.0/24",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "2001:db8::/32",
        "3fff::/20",
    )
)


def ip_problem(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an IP address is not a public internet address, or None when it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # ::ffff:10.0.0.1 is an IPv4 address in disguise; judge the IPv4 address.
        address = address.ipv4_mapped
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        # Python counts most multicast space as global, so it is tested explicitly.
        return "multicast"
    if address.version == 4 and address in _SHARED:
        return "carrier-grade NAT shared space"
    if any(address.version == net.version and address in net for net in _DOCUMENTATION):
        # 3fff::/20 (RFC 9637) is newer than Python 3.11's tables, hence the explicit list.
        return "documentation range"
    # Before is_private: Python files 240.0.0.0/4 under private, but it is reserved.
    if address.is_reserved:
        return "reserved"
    if address.is_private:
        return "private"
    if not address.is_global:
        return "not globally routable"
    return None


def check_ip(raw: object, *, field: str = "ip") -> list[Finding]:
    """The IP address parses and is a public internet address."""
    value = text(raw)
    if value is None:
        return []
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return [finding(Code.INVALID_IP, field, "IP address is not valid")]
    problem = ip_problem(address)
    if problem is not None:
        return [finding(Code.NON_PUBLIC_IP, field, f"IP address is not public ({problem})")]
    return []


# --- vertical field rules ---------------------------------------------------------------


def _number(raw: object) -> Decimal | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, Decimal):
        number = raw
    elif isinstance(raw, int | float | str):
        try:
            number = Decimal(str(raw).strip())
        except InvalidOperation:
            return None
    else:
        return None
    return number if number.is_finite() else None


def check_field_rule(value: object, rule: CheckConfig) -> list[Finding]:
    """A vertical rule over one field: inclusive min/max, allowed and forbidden values."""
    field = rule.field or ""
    if value is None or (isinstance(value, str) and not value.strip()):
        if rule.required:
            return [finding(Code.FIELD_RULE, field, f"{field} is missing")]
        return []
    if rule.min is not None or rule.max is not None:
        number = _number(value)
        if number is None:
            return [finding(Code.FIELD_RULE, field, f"{field} is not a number")]
        if rule.min is not None and number < rule.min:
            return [finding(Code.FIELD_RULE, field, f"{field} is below the minimum {rule.min}")]
        if rule.max is not None and number > rule.max:
            return [finding(Code.FIELD_RULE, field, f"{field} is above the maximum {rule.max}")]
    if rule.in_values or rule.not_in:
        # Lists in YAML are written by people: compare without case or surrounding space.
        key = str(value).strip().casefold()
        if rule.in_values and key not in {item.strip().casefold() for item in rule.in_values}:
            return [finding(Code.FIELD_RULE, field, f"{field} is not an allowed value")]
        if rule.not_in and key in {item.strip().casefold() for item in rule.not_in}:
            return [finding(Code.FIELD_RULE, field, f"{field} is an excluded value")]
    return []


def warm_up() -> None:
    """Build the ZIP table now (about half a second) so the first lead does not pay."""
    zip_table()
