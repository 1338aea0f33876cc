"""Reading request bodies and writing answers."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from pingtree.simulator.bodies import BodyError, parse_body, render


def test_json_form_and_xml_by_content_type() -> None:
    assert parse_body("application/json; charset=utf-8", b'{"a": 1}') == {"a": 1}
    assert parse_body("application/vnd.buyer+json", b"[1]") == [1]
    assert parse_body("application/x-www-form-urlencoded", b"a=1&b=&a=2") == {
        "a": ["1", "2"],
        "b": "",
    }
    assert parse_body("text/xml", b"<lead><zip>12345</zip><a><b>x</b></a></lead>") == {
        "zip": "12345",
        "a": {"b": "x"},
    }


def test_missing_content_type_is_sniffed() -> None:
    assert parse_body(None, b' {"a": "b"}') == {"a": "b"}
    assert parse_body(None, b"<lead><a>b</a></lead>") == {"a": "b"}
    assert parse_body(None, b"a=b") == {"a": "b"}


def test_empty_body_is_none() -> None:
    assert parse_body("application/json", b"") is None


@pytest.mark.parametrize(
    ("content_type", "raw", "reason"),
    [
        ("application/json", b"{nope", "not valid JSON"),
        ("application/xml", b"<lead><a></lead>", "not valid XML"),
        ("application/x-www-form-urlencoded", b"novalue", "not valid form data"),
        ("text/plain", b"hello", "unsupported Content-Type 'text/plain'"),
        ("application/json", b"\xff\xfe{", "cannot decode body"),
    ],
)
def test_unreadable_bodies_say_why(content_type: str, raw: bytes, reason: str) -> None:
    with pytest.raises(BodyError, match=reason):
        parse_body(content_type, raw)


def test_render_xml_escapes_values() -> None:
    body, content_type = render({"status": "rejected", "reason": "a < b & c"}, "xml")
    assert content_type == "application/xml"
    root = ET.fromstring(body)
    assert root.tag == "response"
    assert root.findtext("reason") == "a < b & c"
