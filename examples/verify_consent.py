"""How a buyer fetches and checks the consent certificate a pingtree post referred to
(Python standard library only).

A post of a lead with consent carries consent_id, consent_sha256 and consent_url (or the
campaign's template puts them where the buyer wants them). consent_url is a signed link
that opens until consent_expires_at; it serves the certificate byte for byte as hashed.
Fetch it while the lead is fresh, check the bytes against consent_sha256, and keep both.
"""

import hashlib
import json
import sys
import urllib.request
from typing import Any


def fetch_consent(consent_url: str, consent_sha256: str, timeout: float = 10) -> dict[str, Any]:
    """The certificate, once its bytes are proven to be the ones the post referred to."""
    with urllib.request.urlopen(consent_url, timeout=timeout) as answer:  # noqa: S310
        body: bytes = answer.read()
    if hashlib.sha256(body).hexdigest() != consent_sha256:
        raise ValueError("the certificate does not match the hash the post carried")
    certificate: dict[str, Any] = json.loads(body)
    return certificate


def names_us(certificate: dict[str, Any], our_names: list[str]) -> bool:
    """Whether the consumer's one-to-one consent names us (or names no seller at all)."""
    sellers = {" ".join(s.casefold().split()) for s in certificate.get("sellers", [])}
    return not sellers or any(" ".join(n.casefold().split()) in sellers for n in our_names)


if __name__ == "__main__":
    # python examples/verify_consent.py "<consent_url>" <consent_sha256>
    url, digest = sys.argv[1], sys.argv[2]
    found = fetch_consent(url, digest)
    print(json.dumps(found, indent=2))
