"""One list of reason codes: every code pingtree answers is in it, and so is the README's."""

from __future__ import annotations

import re
from pathlib import Path

from pingtree.leads.reasons import BY_CODE, REASON_CODES
from pingtree.returns.schemas import RETURN_CODES
from pingtree.screening.model import Code

ROOT = Path(__file__).resolve().parents[2]
# refuse(404, "not_found", ...), Reason(code="no_bid", ...), {"code": "unavailable", ...}
ANSWERED = re.compile(
    r'refuse\(\s*\d{3},\s*"([a-z_]+)"|code="([a-z_]+)"|"code": "([a-z_]+)"', re.MULTILINE
)
OPERATOR_ONLY = {
    # the admin API's own refusals: never in a publisher's answer
    "unknown_kind",
    "name_mismatch",
    "invalid_owner",
    "not_in_review",
    "invalid_admin_token",
    "forbidden_for_role",
    "admin_disabled",
    "not_uncertain",
    "invalid_account",
    "reference_used",
    "not_routable",  # approving a reviewed lead whose publisher or vertical was removed
    # the telephony provider's webhooks (a call's refusals are TwiML, said to the caller)
    "bad_signature",
    "calls_off",
    "invalid_webhook",
}


def _answered_codes() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "src" / "pingtree").rglob("*.py"):
        for match in ANSWERED.finditer(path.read_text()):
            found.add(next(g for g in match.groups() if g))
    return found


def test_every_code_pingtree_answers_is_listed() -> None:
    answered = _answered_codes()
    assert len(answered) > 20  # the pattern still finds them
    assert answered - OPERATOR_ONLY - set(BY_CODE) - set(RETURN_CODES) == set()
    assert {c.value for c in Code} - set(BY_CODE) == set()


def test_every_code_in_the_readme_table_is_listed() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index("| code | meaning |") + 2
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append(line)
    codes = {c for line in table for c in re.findall(r"`([a-z_]+)`", line.split(" | ")[0])}
    assert "invalid_email" in codes
    assert codes - set(BY_CODE) == set()


def test_codes_are_unique() -> None:
    assert len(BY_CODE) == len(REASON_CODES)
