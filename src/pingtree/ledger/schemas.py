"""Ledger entries, balances and what operators book, as the API shows them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from pingtree.money import Money

Amount = Annotated[Money, Field(gt=0)]
Memo = Annotated[str, Field(min_length=1, max_length=500)]
Reference = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        pattern=r"^[\x21-\x7e]+$",
        description="your own reference (a bank transfer's id): booking it again books "
        "nothing and answers the entry booked first (200), so a retry is safe; the same "
        "reference with other accounts or another amount is refused (409 reference_used)",
    ),
]


class EntryOut(BaseModel):
    """One ledger entry: amount moved from the debit account to the credit account."""

    id: int
    at: datetime
    kind: str
    debit: str
    credit: str
    amount: Money
    lead_id: str | None
    campaign: str | None
    memo: str | None
    rule: dict[str, Any] | None = Field(description="the payout rule applied (payout entries)")
    actor: str | None = Field(description="who booked it (none: the engine's own sale)")
    reference: str | None = Field(default=None, description="the operator's own reference")


class CreditIn(BaseModel):
    """Funds a buyer paid in (prepaid)."""

    model_config = ConfigDict(extra="forbid")

    buyer: str = Field(min_length=1, max_length=64)
    amount: Amount
    memo: Memo | None = None
    reference: Reference | None = None


class PaymentIn(BaseModel):
    """Money paid out to a publisher."""

    model_config = ConfigDict(extra="forbid")

    publisher: str = Field(min_length=1, max_length=64)
    amount: Amount
    memo: Memo | None = None
    reference: Reference | None = None


class AdjustmentIn(BaseModel):
    """Money moved between any two accounts, with the reason."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "debit": "revenue",
                    "credit": "buyer:apex",
                    "amount": "25.00",
                    "memo": "goodwill credit for a bad batch",
                }
            ]
        },
    )

    debit: str = Field(
        min_length=1, max_length=80, description="buyer:<name>, publisher:<name>, revenue, ..."
    )
    credit: str = Field(min_length=1, max_length=80)
    amount: Amount
    memo: Memo
    reference: Reference | None = None


class BuyerBalance(BaseModel):
    """A buyer's balance (credited less bought, plus returns) and what it may still spend."""

    buyer: str
    balance: Decimal
    credit_limit: Money | None = Field(description="none: its funds are not checked")
    funds_left: Decimal | None = Field(description="balance + credit_limit")


class PublisherBalance(BaseModel):
    """What pingtree owes a publisher: payouts less clawbacks and payments."""

    publisher: str
    payable: Decimal


class Balances(BaseModel):
    """Every party's balance, and the house accounts."""

    buyers: list[BuyerBalance]
    publishers: list[PublisherBalance]
    house: dict[str, Decimal] = Field(description="revenue, payouts, cash")


class OwnFunds(BaseModel):
    """A buyer's own balance."""

    buyer: str
    balance: Decimal
    credit_limit: Money | None
    funds_left: Decimal | None
