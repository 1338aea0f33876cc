"""One-to-one consent: which buyers the sellers named in a certificate are."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def consent_name(name: str) -> str:
    """A seller's name as compared: case and repeated spaces ignored."""
    return " ".join(name.casefold().split())


class SellerNames:
    """The buyers by the names they go by in consent texts (built once per configuration)."""

    def __init__(self, buyers: Iterable[tuple[str, Sequence[str]]]) -> None:
        """buyers: (buyer name, its consent names; none: the buyer's own name)."""
        self._buyers: dict[str, set[str]] = {}
        for buyer, names in buyers:
            for name in names or (buyer,):
                self._buyers.setdefault(consent_name(name), set()).add(buyer)

    def buyers_named(self, sellers: Iterable[str]) -> frozenset[str]:
        """The buyers the named sellers are (a seller no buyer goes by names none)."""
        found: set[str] = set()
        for seller in sellers:
            found |= self._buyers.get(consent_name(seller), set())
        return frozenset(found)
