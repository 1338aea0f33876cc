"""Every consent query: store a lead's certificate once, read it back."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from pingtree.consent.model import Certificate
from pingtree.storage import direct
from pingtree.storage.tables import ConsentCertificate

certificates = cast(Table, ConsentCertificate.__table__)
_INSERT = certificates.insert()

Bind = AsyncConnection | AsyncSession


async def store(bind: Bind, certificate: Certificate, *, now: datetime) -> None:
    """Store a lead's certificate in the transaction that stores the lead (never changed)."""
    row = {
        "id": certificate.id,
        "lead_id": certificate.lead_id,
        "certificate": certificate.text,
        "sha256": certificate.sha256,
        "consented_at": certificate.consented_at,
        "sellers": list(certificate.sellers),
        "created_at": now,
    }
    if isinstance(bind, AsyncConnection):  # a lead's path: straight to the driver
        await direct.send(bind, _INSERT, row)
    else:
        await bind.execute(_INSERT, row)


async def of_lead(bind: Bind, lead_id: str) -> Certificate | None:
    """The lead's certificate, if it has one."""
    return await _one(bind, certificates.c.lead_id == lead_id)


async def by_id(bind: Bind, consent_id: str) -> Certificate | None:
    """The certificate with this id, if there is one."""
    return await _one(bind, certificates.c.id == consent_id)


async def _one(bind: Bind, where: object) -> Certificate | None:
    row = (await bind.execute(select(certificates).where(where))).first()  # type: ignore[arg-type]
    if row is None:
        return None
    return Certificate.stored(
        id=row.id,
        lead_id=row.lead_id,
        text=row.certificate,
        sha256=row.sha256,
        consented_at=row.consented_at,
        sellers=row.sellers,
    )
