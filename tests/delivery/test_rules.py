"""Response rules at the level of the best platforms (issue 10, point 1).

Each case is a buyer answer as LeadConduit / boberdoo style integrations send it (JSON,
HTML, XML, plain text, cookies, statuses) and what the rules must make of it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pingtree.buyers.model import Outcome, ResponseRules
from pingtree.buyers.selectors import _Json, compile_selector
from pingtree.delivery.responses import BuyerResponse, explain, read_response


@dataclass
class Case:
    """Rules, an answer, and the reading expected of it."""

    rules: dict[str, Any]
    body: str
    outcome: Outcome
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    price: str | None = None
    reference: str | None = None
    reason: str | None = None
    redirect_url: str | None = None
    captured: dict[str, str] = field(default_factory=dict)


def rule(source: str, path: str = "$", outcome: str = "accepted", **test: Any) -> dict[str, Any]:
    return {"source": source, "path": path, "outcome": outcome, **test}


ACCEPTED, REJECTED, DUPLICATE, ERROR = (
    Outcome.ACCEPTED,
    Outcome.REJECTED,
    Outcome.DUPLICATE,
    Outcome.ERROR,
)

RESULT_RULES: dict[str, Any] = {
    "rules": [
        rule("json", "$.result", equals="success"),
        rule("json", "$.result", "rejected", equals="failure"),
    ],
    "price": {"source": "json", "path": "$.price"},
    "reason": {"source": "json", "path": "$.reasons[*]"},
}

THANK_YOU = """<!DOCTYPE html>
<html><head><title>Thanks</title></head><body>
  <div class="result"><h1>Thank you!</h1>
    <p>Your reference is <span id="lead-id">LX-4471</span></p></div>
  <a class="next" href="https://buyer.example/continue?l=LX-4471">Continue</a>
</body></html>"""
SORRY = """<html><body><h1>Sorry</h1>
  <ul class="errors"><li> Invalid phone </li><li>Bad ZIP</li><li>Invalid phone</li><li>  </li></ul>
</body></html>"""
XXE = """<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY leak SYSTEM "file:///etc/hostname"><!ENTITY a "aaaaaaaaaa">
<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<response><status>&leak;</status><note>&b;</note></response>"""

CASES: dict[str, Case] = {
    # --- JSON ----------------------------------------------------------------------------
    "json-success-price": Case(
        RESULT_RULES, '{"result":"success","price":12.5}', ACCEPTED, price="12.50"
    ),
    "json-reject-reasons-trimmed-deduplicated-sorted": Case(
        RESULT_RULES,
        '{"result":"failure","reasons":[" bad zip ","Duplicate","bad zip",""," ",null]}',
        REJECTED,
        reason="Duplicate, bad zip",
    ),
    "json-list-is-several-values": Case(
        {**RESULT_RULES, "reason": {"source": "json", "path": "$.errors"}},
        '{"result":"failure","errors":["too old","Bad zip","too old"]}',
        REJECTED,
        reason="Bad zip, too old",
    ),
    "json-reject-without-reason-takes-default": Case(
        RESULT_RULES, '{"result":"failure"}', REJECTED, reason="rejected by buyer"
    ),
    "json-reject-configured-default-reason": Case(
        {**RESULT_RULES, "default_reason": "Declined"},
        '{"result":"failure","reasons":["   "]}',
        REJECTED,
        reason="Declined",
    ),
    "json-wildcard-matches-any": Case(
        {"rules": [rule("json", "$.baz.*.cost", equals="4")]},
        '{"baz":{"a":{"cost":3},"b":{"cost":4}}}',
        ACCEPTED,
    ),
    "json-filter-and-reference": Case(
        {
            "rules": [rule("json", "$.buyers[?(@.status == 'accepted')]", exists=True)],
            "reference": {"source": "json", "path": "$.buyers[?(@.status == 'accepted')].id"},
            "price": {"source": "json", "path": "$.buyers[?(@.status == 'accepted')].payout"},
        },
        '{"buyers":[{"id":"A1","status":"declined"},{"id":"B2","status":"accepted",'
        '"payout":"7.25"}]}',
        ACCEPTED,
        price="7.25",
        reference="B2",
    ),
    "json-boolean-and-nested-index": Case(
        {
            "rules": [rule("json", "$.data.accepted", equals="true")],
            "reference": {"source": "json", "path": "$.data.ids[0]"},
        },
        '{"data":{"accepted":true,"ids":["Q-1","Q-2"]}}',
        ACCEPTED,
        reference="Q-1",
    ),
    "json-rule-on-html-takes-otherwise": Case(
        {**RESULT_RULES, "otherwise": "rejected"},
        "<html><body>Service unavailable</body></html>",
        REJECTED,
        reason="rejected by buyer",
    ),
    "json-otherwise-reject-adds-no-synthetic-reason": Case(
        {"rules": [rule("json", "$.result", equals="success")], "otherwise": "rejected"},
        '{"result":"failure"}',
        REJECTED,
        reason="rejected by buyer",
    ),
    "json-otherwise-error-says-why": Case(
        RESULT_RULES,
        "<html>oops</html>",
        ERROR,
        reason="no rule matched the response (HTTP 200; response is not JSON)",
    ),
    "json-string-document": Case(
        {
            "rules": [
                rule("json", "$..status", equals="ok"),
                rule("json", "$", "rejected", equals='{"status": "ok"}'),
            ],
            "otherwise": "duplicate",
        },
        '"{\\"status\\": \\"ok\\"}"',
        REJECTED,
        reason="rejected by buyer",
    ),
    "json-capture-map": Case(
        {
            "rules": [rule("json", "$.result", equals="success")],
            "capture": {
                "buyer_lead_id": {"source": "json", "path": "$.lead.id"},
                "tier": {"source": "json", "path": "$.lead.tier"},
            },
        },
        '{"result":"success","lead":{"id":98765,"tier":"gold"}}',
        ACCEPTED,
        captured={"buyer_lead_id": "98765", "tier": "gold"},
    ),
    # --- XML -----------------------------------------------------------------------------
    "xml-text-and-descendant": Case(
        {
            "rules": [
                rule("xpath", "/response/status/text()", equals="accepted"),
                rule("xpath", "//status/text()", "rejected", equals="rejected"),
            ],
            "price": {"source": "xpath", "path": "//price"},
            "reference": {"source": "xpath", "path": "lead_id"},
        },
        "<?xml version='1.0' encoding='UTF-8'?>\n<response><status>Accepted</status>"
        "<price>10</price><lead_id>77</lead_id></response>",
        ACCEPTED,
        price="10.00",
        reference="77",
    ),
    "xml-attributes": Case(
        {
            "rules": [rule("xpath", "/result/@status", equals="ok")],
            "reference": {"source": "xpath", "path": "@id"},
            "price": {"source": "xpath", "path": "/result/bid/@amount"},
        },
        '<result status="OK" id="X1"><bid amount="$1,204.50"/></result>',
        ACCEPTED,
        price="1204.50",
        reference="X1",
    ),
    "xml-every-error-is-a-reason": Case(
        {
            "rules": [rule("xpath", "//error", "rejected", exists=True)],
            "reason": {"source": "xpath", "path": "//errors/error/text()"},
        },
        "<response><errors><error>Bad zip</error><error>Bad phone</error></errors></response>",
        REJECTED,
        reason="Bad phone, Bad zip",
    ),
    "xml-soap-namespaces-by-local-name": Case(
        {
            "rules": [rule("xpath", "//PostResult/Status", equals="Accepted")],
            "reference": {"source": "xpath", "path": "//PostResult/@id"},
        },
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        '<PostResponse xmlns="http://buyer.example/"><PostResult b:id="R-5" '
        'xmlns:b="http://buyer.example/b"><Status>Accepted</Status></PostResult>'
        "</PostResponse></soap:Body></soap:Envelope>",
        ACCEPTED,
        reference="R-5",
    ),
    "xml-count-function": Case(
        {"rules": [rule("xpath", "count(//lead[@sold='1'])", equals="2")]},
        '<leads><lead sold="1"/><lead sold="0"/><lead sold="1"/></leads>',
        ACCEPTED,
    ),
    "xml-entities-never-expanded": Case(
        {
            "rules": [rule("xpath", "//note", contains="aaaaaaaaaa")],
            "reason": {"source": "xpath", "path": "//note"},
            "otherwise": "rejected",
        },
        XXE,
        REJECTED,
        reason="&b;",
    ),
    "xml-on-plain-text-takes-otherwise": Case(
        {"rules": [rule("xpath", "//status", equals="ok")], "otherwise": "rejected"},
        "status=ok",
        REJECTED,
        reason="rejected by buyer",
    ),
    # --- HTML ----------------------------------------------------------------------------
    "html-thank-you-page": Case(
        {
            "rules": [
                rule("css", "div.result h1", contains="thank you"),
                rule("css", "h1", "rejected", contains="sorry"),
            ],
            "reference": {"source": "css", "path": "#lead-id"},
            "redirect_url": {"source": "css", "path": "a.next::attr(href)"},
        },
        THANK_YOU,
        ACCEPTED,
        reference="LX-4471",
        redirect_url="https://buyer.example/continue?l=LX-4471",
    ),
    "html-sorry-page-reasons": Case(
        {
            "rules": [
                rule("css", "div.result h1", contains="thank you"),
                rule("css", "h1::text", "rejected", contains="sorry"),
            ],
            "reason": {"source": "css", "path": "ul.errors li"},
        },
        SORRY,
        REJECTED,
        reason="Bad ZIP, Invalid phone",
    ),
    "html-xpath-over-html": Case(
        {"rules": [rule("xpath", "//h1/text()", equals="Thank you!")]}, THANK_YOU, ACCEPTED
    ),
    # --- plain text ----------------------------------------------------------------------
    "text-contains-and-named-groups": Case(
        {
            "rules": [rule("body", contains="success")],
            "reference": {"source": "regex", "path": r"lead_id=(?P<buyer_lead_id>\d+)"},
        },
        "SUCCESS lead_id=44012",
        ACCEPTED,
        reference="44012",
        captured={"buyer_lead_id": "44012"},
    ),
    "text-pipe-delimited": Case(
        {
            "rules": [rule("body", matches=r"^ACCEPTED\|(?P<price_text>[\d.]+)\|(?P<ref>\w+)")],
            "price": {"source": "regex", "path": r"^ACCEPTED\|([\d.]+)"},
        },
        "ACCEPTED|12.50|ABC123",
        ACCEPTED,
        price="12.50",
        captured={"price_text": "12.50", "ref": "ABC123"},
    ),
    "text-duplicate": Case(
        {
            "rules": [
                rule("body", contains="accepted"),
                rule("regex", r"^(\w+):", "duplicate", equals="DUPLICATE"),
            ],
            "reason": {"source": "regex", "path": r":\s*(.+)$"},
        },
        "DUPLICATE: seen in the last 30 days",
        DUPLICATE,
        reason="seen in the last 30 days",
    ),
    # --- cookies -------------------------------------------------------------------------
    "cookie-by-name": Case(
        {
            "rules": [rule("cookie", "lead_id", exists=True)],
            "reference": {"source": "cookie", "path": "lead_id"},
        },
        "OK",
        ACCEPTED,
        headers=[
            ("Set-Cookie", "session=s1; Path=/; HttpOnly"),
            ("Set-Cookie", 'lead_id="abc123"; Path=/; Secure'),
        ],
        reference="abc123",
    ),
    "cookie-search-term": Case(
        {
            "rules": [
                rule("cookie", "*", contains="status=accepted"),
                rule("cookie", "*", "rejected", contains="status=rejected"),
            ]
        },
        "",
        REJECTED,
        headers=[("Set-Cookie", "status=rejected; Max-Age=60")],
        reason="rejected by buyer",
    ),
    "cookie-missing-takes-otherwise": Case(
        {"rules": [rule("cookie", "lead_id", exists=True)], "otherwise": "rejected"},
        "OK",
        REJECTED,
        headers=[("Set-Cookie", "other=1")],
        reason="rejected by buyer",
    ),
    # --- headers -------------------------------------------------------------------------
    "header-any-case-every-repeat": Case(
        {
            "rules": [
                rule("header", "x-result", equals="sold"),
                rule("header", "X-RESULT", "rejected", equals="declined"),
            ],
            "reason": {"source": "header", "path": "x-error"},
        },
        "",
        REJECTED,
        headers=[
            ("X-Result", "Declined"),
            ("X-Error", "Bad zip"),
            ("x-error", "Bad age"),
            ("X-Error", "Bad zip"),
        ],
        reason="Bad age, Bad zip",
    ),
    "header-second-value-matches": Case(
        {"rules": [rule("header", "X-Result", equals="sold")]},
        "",
        ACCEPTED,
        headers=[("X-Result", "pending"), ("X-Result", "SOLD")],
    ),
    # --- statuses ------------------------------------------------------------------------
    "status-201-accepts": Case(
        {"rules": [rule("status", equals="201")], "otherwise": "rejected"}, "", ACCEPTED, 201
    ),
    "status-409-duplicate": Case(
        {"rules": [rule("status", "$", "duplicate", equals="409")]}, "", DUPLICATE, 409
    ),
    "status-404-accept-body-is-error": Case(
        RESULT_RULES,
        '{"result":"success","price":12.5}',
        ERROR,
        404,
        reason="not_2xx: HTTP 404 is never an accept unless a rule reads the status",
    ),
    "status-500-default-reason": Case(RESULT_RULES, "<h1>boom</h1>", ERROR, 500, reason="HTTP 500"),
    "status-503-configured-reason": Case(
        {**RESULT_RULES, "server_error_reason": "buyer server error"},
        "<h1>boom</h1>",
        ERROR,
        503,
        reason="buyer server error",
    ),
    "status-302-redirect": Case(
        RESULT_RULES,
        '{"result":"success"}',
        ERROR,
        302,
        headers=[("location", "https://elsewhere.example/")],
        reason="redirect: HTTP 302 to https://elsewhere.example/",
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_response_rules_read_realistic_answers(case: Case) -> None:
    rules = ResponseRules.model_validate(case.rules)
    got = read_response(rules, BuyerResponse(case.status, case.headers, case.body))
    assert got.outcome is case.outcome, got
    assert got.price == (Decimal(case.price) if case.price else None), got
    assert got.reference == case.reference, got
    assert got.reason == case.reason, got
    assert got.redirect_url == case.redirect_url, got
    assert got.captured == case.captured, got


def test_no_entity_is_expanded_and_no_file_is_read() -> None:
    rules = ResponseRules.model_validate(
        {
            "rules": [rule("xpath", "//status", exists=True)],
            "reason": {"source": "xpath", "path": "/response"},
        }
    )
    trace = explain(rules, BuyerResponse(200, [], XXE))
    # The reference stays a reference: neither the file nor the expansion is in the answer.
    assert trace.rules[0].values == ["&leak;"]
    hostname = Path("/etc/hostname").read_text().strip()
    assert all(hostname not in v for v in trace.extracted["reason"])
    assert all("aaaaaaaaaa" not in v for v in trace.extracted["reason"])


BAD_PATHS = [
    ("json", "$.[[", "not a valid JSONPath"),
    ("json", "$.a[?(@.b ==]", "not a valid JSONPath"),
    ("xpath", "//a[", "not a valid XPath 1.0 expression"),
    ("xpath", "status[", "not a valid XPath 1.0 expression"),
    ("xpath", "/response/status[@a=b]]", "not a valid XPath 1.0 expression"),
    ("xpath", "nosuch()", "not a valid XPath 1.0 expression: Unregistered function"),
    ("xpath", "//x:status", "not a valid XPath 1.0 expression: Undefined namespace prefix"),
    ("css", "div[", "not a valid CSS selector"),
    ("css", "::attr(href)", "a CSS selector is needed"),
    ("regex", "lead_id=(\\d+", "not a valid regular expression"),
]


@pytest.mark.parametrize(("source", "path", "reason"), BAD_PATHS)
def test_a_bad_path_is_a_configuration_error(source: str, path: str, reason: str) -> None:
    for where in ("rules", "price", "capture"):
        spec: dict[str, Any] = {"rules": [rule("body", contains="ok")]}
        if where == "rules":
            spec["rules"] = [rule(source, path, exists=True)]
            loc: tuple[Any, ...] = ("rules", 0, "path")
        elif where == "price":
            spec["price"] = {"source": source, "path": path}
            loc = ("price", "path")
        else:
            spec["capture"] = {"lead": {"source": source, "path": path}}
            loc = ("capture", "lead", "path")
        with pytest.raises(ValidationError) as raised:
            ResponseRules.model_validate(spec)
        (error,) = raised.value.errors()
        assert error["loc"] == loc
        assert reason in error["msg"], error["msg"]


def test_a_bad_matches_regex_and_capture_name_are_configuration_errors() -> None:
    with pytest.raises(ValidationError) as raised:
        ResponseRules.model_validate({"rules": [rule("body", matches="(ok")]})
    assert raised.value.errors()[0]["loc"] == ("rules", 0, "matches")
    with pytest.raises(ValidationError):
        ResponseRules.model_validate(
            {"rules": [rule("body", contains="ok")], "capture": {"lead id": {"source": "body"}}}
        )


def test_paths_are_compiled_once() -> None:
    spec = {"rules": [rule("json", "$.items[*].status", equals="ok")]}
    first = ResponseRules.model_validate(spec).rules[0]
    second = ResponseRules.model_validate(spec).rules[0]
    assert first.selector is second.selector  # one compiled object for the same path
    assert first.selector is first.selector


def test_explain_shows_each_rule_and_what_was_extracted() -> None:
    rules = ResponseRules.model_validate(
        {
            "rules": [
                rule("json", "$.result", equals="success"),
                rule("json", "$.result", "rejected", equals="failure"),
                rule("json", "$.result", "duplicate", equals="duplicate"),
            ],
            "reason": {"source": "json", "path": "$.msg"},
        }
    )
    trace = explain(rules, BuyerResponse(200, [], '{"result":"failure","msg":"bad zip"}'))
    assert [(s.index, s.values, s.matched) for s in trace.rules] == [
        (0, ["failure"], False),
        (1, ["failure"], True),
    ]
    assert trace.matched is trace.rules[1]
    assert trace.extracted["reason"] == ["bad zip"]
    assert trace.decided_by == "rule 2 matched"
    assert (trace.reading.outcome, trace.reading.reason) == (REJECTED, "bad zip")


_KEYS = st.sampled_from(["a", "b", "lead-id", "x_1"])
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3),
    max_leaves=12,
)
_STEP = st.one_of(
    _KEYS.map(lambda k: f".{k}"),
    st.integers(0, 3).map(lambda i: f"[{i}]"),
    _KEYS.map(lambda k: f"['{k}']"),
)


@settings(max_examples=300, deadline=None)
@given(document=_JSON, steps=st.lists(_STEP, max_size=4))
def test_the_direct_walk_of_a_simple_path_agrees_with_the_jsonpath_library(
    document: Any, steps: list[str]
) -> None:
    path = "$" + "".join(steps)
    selector = compile_selector("json", path)
    assert isinstance(selector, _Json) and selector.steps is not None, path
    walked = selector.find(BuyerResponse(200, [], json.dumps(document)))
    by_library = _Json(selector.path, None).find(BuyerResponse(200, [], json.dumps(document)))
    assert walked == by_library, path


EVERY_SOURCE = ResponseRules.model_validate(
    {
        "rules": [
            rule("json", "$..status", equals="ok"),
            rule("json", "$.a[0].b", exists=True),
            rule("xpath", "//status/text()", contains="ok"),
            rule("css", "div.result::attr(data-x)", matches="^o"),
            rule("cookie", "*", contains="ok"),
            rule("header", "x-result", equals="ok"),
            rule("regex", r"(?P<id>\d+)", equals="1"),
        ],
        "otherwise": "rejected",
        "price": {"source": "xpath", "path": "//price"},
        "reason": {"source": "css", "path": "li"},
    }
)
_HOSTILE = st.one_of(
    st.text(max_size=200),
    st.sampled_from(
        [
            "[" * 100_000,
            "<a>" * 5_000,
            "<r>\x00</r>",
            "<?xml version='1.0' encoding='latin-1'?><r>é</r>",
            '<r xmlns="u"><x:y xmlns:x="v"/></r>',
            "<html><div class='result' data-x='ok'>",
            '{"status": {"ok": 1}}',
        ]
    ),
)


@settings(max_examples=200, deadline=None)
@given(
    body=_HOSTILE,
    headers=st.lists(st.tuples(st.sampled_from(["Set-Cookie", "X-Result"]), st.text(max_size=20))),
)
def test_no_answer_makes_the_rules_raise(body: str, headers: list[tuple[str, str]]) -> None:
    got = read_response(EVERY_SOURCE, BuyerResponse(200, headers, body))
    assert got.outcome in (ACCEPTED, REJECTED)


@pytest.mark.parametrize(
    ("source", "path", "body", "values"),
    [
        ("json", "$.first name", '{"first name": "Ada"}', ["Ada"]),
        ("json", "$.codes.0", '{"codes": {"0": "z"}}', ["z"]),
        ("json", "baz.1.cost", '{"baz": [{"cost": 3}, {"cost": 4}]}', ["4"]),
        ("json", "result.status", '{"result": {"status": "ok"}}', ["ok"]),
        ("json", "$['a'][0]['b']", '{"a": [{"b": 1}]}', ["1"]),
        (
            "xpath",
            "{http://buyer/}status",
            '<r xmlns="http://buyer/"><status>ok</status></r>',
            ["ok"],
        ),
        ("xpath", ".//price", "<r><bid><price>4</price></bid></r>", ["4"]),
    ],
)
def test_paths_written_for_the_old_reader_keep_their_meaning(
    source: str, path: str, body: str, values: list[str]
) -> None:
    assert compile_selector(source, path).find(BuyerResponse(200, [], body)).values == values


@pytest.mark.parametrize("source", ["header", "regex"])
def test_a_header_or_regex_source_needs_its_path(source: str) -> None:
    with pytest.raises(ValidationError, match=f"source {source} needs path"):
        ResponseRules.model_validate(
            {"rules": [{"source": source, "equals": "x", "outcome": "accepted"}]}
        )
