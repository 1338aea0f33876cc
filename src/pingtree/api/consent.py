"""The public consent endpoint: a buyer fetches a lead's certificate by the signed link its
post carried. No credential: the link's signature and expiry are the access check."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from pingtree.api.deps import RuntimeDep
from pingtree.api.storable import StorableTextRoute
from pingtree.consent import repository
from pingtree.consent.links import LinkRefused
from pingtree.intake.errors import refuse
from pingtree.leads.schemas import ErrorAnswer

router = APIRouter(prefix="/api/v1", tags=["consent"], route_class=StorableTextRoute)

_REFUSED: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorAnswer, "description": "the signature does not match (invalid_link)"},
    404: {"model": ErrorAnswer, "description": "no such certificate (not_found)"},
    410: {"model": ErrorAnswer, "description": "the link has expired (link_expired)"},
    422: {"model": ErrorAnswer, "description": "a malformed query (invalid_request)"},
}


class CertificateResponse(Response):
    """A consent certificate: canonical JSON, the bytes its SHA-256 was taken of."""

    media_type = "application/json"


@router.get(
    "/consent/{consent_id}",
    response_class=CertificateResponse,
    responses={
        200: {
            "description": "the certificate, byte for byte as hashed; its SHA-256 is also in "
            "the X-Consent-SHA256 header",
            "content": {"application/json": {}},
        },
        **_REFUSED,
    },
)
async def consent_certificate(
    consent_id: str,
    rt: RuntimeDep,
    expires: str = Query(max_length=20, description="the link's expiry (unix time)"),
    signature: str = Query(max_length=128, description="the link's signature"),
) -> CertificateResponse:
    """The consent certificate a post referred to, if the link is genuine and unexpired."""
    links = rt.consent_links
    if links is None:
        raise refuse(404, "not_found", "consent links are not enabled here")
    try:
        links.check(consent_id, expires, signature, rt.clock.now())
    except LinkRefused as exc:
        raise refuse(exc.status, exc.code, exc.message) from None
    async with rt.sessions() as session:
        found = await repository.by_id(session, consent_id)
    if found is None:
        raise refuse(404, "not_found", f"no consent {consent_id!r}")
    return CertificateResponse(
        found.text.encode(),
        headers={"X-Consent-SHA256": found.sha256, "Cache-Control": "private, no-store"},
    )
