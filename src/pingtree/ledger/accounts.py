"""The ledger's accounts and the kinds of entry between them.

A balance is credits less debits. A buyer's balance is its funds (credited money less
what it bought, plus approved returns); a publisher's is what it is owed (payouts less
clawbacks and payments). `revenue` and `payouts` are the house's; `cash` is money that
came in or went out.
"""

from __future__ import annotations

from enum import StrEnum

REVENUE = "revenue"
PAYOUTS = "payouts"
CASH = "cash"
HOUSE = (REVENUE, PAYOUTS, CASH)
BUYER, PUBLISHER = "buyer:", "publisher:"


def buyer(name: str) -> str:
    """A buyer's account."""
    return BUYER + name


def publisher(name: str) -> str:
    """A publisher's account."""
    return PUBLISHER + name


def is_account(name: str) -> bool:
    """Whether name is an account the ledger knows."""
    return name in HOUSE or (
        name.startswith((BUYER, PUBLISHER)) and len(name.partition(":")[2]) > 0
    )


class EntryKind(StrEnum):
    """What moved the money."""

    SALE = "sale"  # buyer -> revenue, the price
    PAYOUT = "payout"  # payouts -> publisher, the publisher's share
    RETURN = "return"  # revenue -> buyer, an approved return gives the price back
    CLAWBACK = "clawback"  # publisher -> payouts, the payout of a returned sale taken back
    CREDIT = "credit"  # cash -> buyer, funds the buyer paid in
    PAYMENT = "payment"  # publisher -> cash, money paid out to the publisher
    ADJUSTMENT = "adjustment"  # any two accounts, with a memo
