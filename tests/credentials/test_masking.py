"""Masking: every encoding of a secret, credential headers, URL userinfo and query values."""

from __future__ import annotations

import json
from urllib.parse import quote_plus, urlencode

from pingtree.buyers.model import BodyFormat
from pingtree.credentials import Masker
from pingtree.credentials.masking import mask_url
from pingtree.delivery.requests import encode_body

SECRET = 'p&ss "qx7z"/ü'


def test_every_encoding_of_a_secret_is_masked() -> None:
    masker = Masker([SECRET])
    for body in (
        json.dumps({"password": SECRET}),
        urlencode({"password": SECRET}),
        encode_body(BodyFormat.XML, {"password": SECRET}).decode(),
        encode_body(BodyFormat.FORM, {"password": SECRET}).decode(),
        f"raw {SECRET} raw",
    ):
        masked = masker.text(body)
        assert "qx7z" not in masked and "***" in masked, (body, masked)


def test_credential_headers_declared_ones_and_any_holding_a_secret_are_masked() -> None:
    masker = Masker(["tok-123456"], secret_headers=["X-Declared"])
    headers = {
        "Authorization": "Bearer x",
        "Proxy-Authorization": "Basic y",
        "Cookie": "a=b",
        "X-API-Key": "k",
        "X-Declared": "plain",
        "X-Other": "prefix tok-123456",
        "Content-Type": "application/json",
    }
    shown = masker.headers(headers)
    assert shown.pop("Content-Type") == "application/json"
    assert set(shown.values()) == {"***"}


def test_urls_lose_userinfo_query_values_and_secrets_in_the_path() -> None:
    assert mask_url("https://u:p@buyer.example/x?token=abc&src=pt&flag") == (
        "https://***@buyer.example/x?token=***&src=***&***"
    )
    masker = Masker(["tok-123456"])
    assert masker.url("https://buyer.example/k/tok-123456/post") == (
        "https://buyer.example/k/***/post"
    )
    assert "tok" not in masker.url("https://buyer.example/?t=" + quote_plus("tok-123456"))
