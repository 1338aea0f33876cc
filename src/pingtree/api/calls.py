"""Calls: the telephony provider's voice webhooks (TwiML in answer), and calls for operators.

Every webhook must carry the provider's signature (X-Twilio-Signature: HMAC-SHA1 of the
URL it called and its form parameters, keyed by the account's auth token).
"""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Security
from fastapi.responses import Response
from fastapi.security import APIKeyHeader
from twilio.request_validator import RequestValidator

from pingtree.api.deps import ReadDep, RuntimeDep
from pingtree.api.storable import StorableTextRoute
from pingtree.calls import repository, service
from pingtree.calls.schemas import CallEventOut, CallFiguresOut, CallOut, CallStory
from pingtree.intake.errors import refuse
from pingtree.leads.repository import timeline
from pingtree.leads.schemas import admin_error_responses
from pingtree.runtime import Runtime

# The provider's webhooks answer TwiML to a telephony provider, not JSON to an API client:
# documented in the README ("Calls"), left out of the OpenAPI document.
webhooks = APIRouter(prefix="/calls", tags=["calls"], include_in_schema=False)
admin = APIRouter(
    prefix="/api/v1/admin/calls",
    tags=["calls"],
    dependencies=[ReadDep],
    route_class=StorableTextRoute,
    responses=admin_error_responses(),
)

SIGNATURE_HEADER = "X-Twilio-Signature"
provider_signature = APIKeyHeader(
    name=SIGNATURE_HEADER,
    scheme_name="ProviderSignature",
    description="the telephony provider's signature of the webhook (HMAC-SHA1 of the URL "
    "and form parameters, keyed by PINGTREE_TELEPHONY_AUTH_TOKEN)",
    auto_error=False,
)


def twiml(document: str) -> Response:
    return Response(content=document, media_type="application/xml")


async def signed_form(
    request: Request, signature: str | None = Security(provider_signature)
) -> dict[str, str]:
    """The webhook's form parameters, once its signature is checked."""
    if not signature:
        raise refuse(401, "bad_signature", f"send the provider's {SIGNATURE_HEADER}")
    rt: Runtime = request.app.state.runtime
    token = rt.settings.telephony_auth_token
    if not token:
        raise refuse(403, "calls_off", "set PINGTREE_TELEPHONY_AUTH_TOKEN to take calls")
    form = await request.form()
    params = {key: str(value) for key, value in form.items()}
    url = str(request.url)
    if rt.settings.public_url:  # the address the provider called, behind a proxy
        url = rt.settings.public_url.rstrip("/") + request.url.path
        if request.url.query:
            url += "?" + request.url.query
    if not RequestValidator(token).validate(url, params, signature):
        raise refuse(401, "bad_signature", f"{SIGNATURE_HEADER} does not sign this request")
    return params


Form = Annotated[dict[str, str], Depends(signed_form)]


def _seconds(text: str | None) -> int:
    try:
        return max(0, int(text or 0))
    except ValueError:
        return 0


@webhooks.post("/voice", response_class=Response)
async def voice(form: Form, rt: RuntimeDep) -> Response:
    """A call comes in to a tracking number (the provider's voice URL)."""
    call_id, caller, number = form.get("CallSid"), form.get("From"), form.get("To")
    if not call_id or not caller or not number:
        raise refuse(422, "invalid_webhook", "CallSid, From and To are required")
    return twiml(await service.incoming(rt, call_id=call_id[:64], caller=caller, number=number))


@webhooks.post("/{call_id}/ivr/{index}", response_class=Response)
async def ivr(call_id: str, index: int, form: Form, rt: RuntimeDep) -> Response:
    """The keys a caller pressed for one IVR question (Gather's action)."""
    return twiml(await service.ivr_answer(rt, call_id, index, form.get("Digits")))


@webhooks.post("/{call_id}/next", response_class=Response)
async def next_step(call_id: str, form: Form, rt: RuntimeDep) -> Response:
    """A caller on hold asks again for the call's next step."""
    return twiml(await service.next_step(rt, call_id))


@webhooks.post("/{call_id}/dialed/{campaign}", response_class=Response)
async def dialed(call_id: str, campaign: str, form: Form, rt: RuntimeDep) -> Response:
    """How a dial to a buyer went (Dial's action): answered and for how long, or not."""
    step = await service.dialed(
        rt,
        call_id,
        campaign,
        status=form.get("DialCallStatus", "failed"),
        seconds=_seconds(form.get("DialCallDuration")),
        call_status=form.get("CallStatus", "in-progress"),
    )
    return twiml(step)


@webhooks.post("/status", status_code=204, response_class=Response)
async def status(form: Form, rt: RuntimeDep) -> Response:
    """The provider's status callback: ringing, answered, or over with its duration."""
    call_id = form.get("CallSid")
    if not call_id:
        raise refuse(422, "invalid_webhook", "CallSid is required")
    await service.status_callback(
        rt,
        call_id,
        status=form.get("CallStatus", ""),
        duration_s=_seconds(form["CallDuration"]) if "CallDuration" in form else None,
        recording_url=form.get("RecordingUrl"),
    )
    return Response(status_code=204)


@admin.get("", response_model=list[CallOut])
async def list_calls(
    rt: RuntimeDep, limit: Annotated[int, Query(ge=1, le=1000)] = 50
) -> list[CallOut]:
    """The latest calls, newest first."""
    async with rt.engine.connect() as conn:
        return [CallOut.of(c) for c in await repository.recent_calls(conn, limit=limit)]


@admin.get("/figures", response_model=list[CallFiguresOut])
async def call_figures(
    rt: RuntimeDep,
    by: Literal["publisher", "vertical", "campaign"] = "campaign",
    days: Annotated[int, Query(ge=1, le=366)] = 1,
    test: bool = False,
) -> list[CallFiguresOut]:
    """Calls, connected, converted, average duration and revenue per call, per group, over
    the last `days` days."""
    end = rt.clock.now().astimezone(UTC) + timedelta(seconds=1)
    start = end - timedelta(days=days)
    async with rt.engine.connect() as conn:
        found = await repository.figures(conn, by=by, start=start, end=end, test=test)
    return [CallFiguresOut.of(f) for f in found]


@admin.get("/{call_id}", response_model=CallStory)
async def get_call(call_id: str, rt: RuntimeDep) -> CallStory:
    """A call and its timeline: webhooks, IVR answers, the match, dials, status callbacks."""
    async with rt.engine.connect() as conn:
        call = await repository.get_call(conn, call_id)
        if call is None:
            raise refuse(404, "not_found", f"no call {call_id!r}")
        events = await repository.events_of(conn, call_id)
    attempts = []
    if call.lead_id is not None:
        async with rt.sessions() as session:
            lead = await timeline(session, call.lead_id)
        attempts = lead.attempts if lead is not None else []
    return CallStory(
        **CallOut.of(call).model_dump(),
        events=[CallEventOut.of(e) for e in events],
        attempts=attempts,
    )
