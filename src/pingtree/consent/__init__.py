"""TCPA consent: the certificate captured at conversion, checked at intake, enforced in
routing (one-to-one: only the sellers the consumer named), stored unchangeable and handed
to each buyer as a reference with a signed, expiring link."""

from pingtree.consent.model import Certificate, ConsentIn, ConsentPolicy, UnnamedSellers

__all__ = ["Certificate", "ConsentIn", "ConsentPolicy", "UnnamedSellers"]
