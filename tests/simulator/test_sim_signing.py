"""The simulator, configured with a signing secret, verifies signatures as a buyer would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp

from pingtree.delivery.signing import sign
from tests.simulator.conftest import StartSim, buyer

SECRET = "whsec-sim"
BODY = b'{"zip": "10001", "state": "NY"}'
JSON = {"Content-Type": "application/json"}


async def _post(http: aiohttp.ClientSession, url: str, body: bytes, header: str | None) -> int:
    headers = {**JSON, **({"X-Pingtree-Signature": header} if header else {})}
    async with http.post(url, data=body, headers=headers) as response:
        return response.status


async def test_signed_requests_pass_and_tampered_or_old_ones_fail(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start_sim(buyer(signing_secret=SECRET))
    url = sim.url("acme", "post")
    now = datetime.now(UTC)
    assert await _post(http, url, BODY, sign(SECRET, BODY, now)) == 200
    tampered = BODY.replace(b"10001", b"90210")
    assert await _post(http, url, tampered, sign(SECRET, BODY, now)) == 401
    assert await _post(http, url, BODY, sign(SECRET, BODY, now - timedelta(minutes=10))) == 401
    assert await _post(http, url, BODY, sign("not-the-secret", BODY, now)) == 401
    assert await _post(http, url, BODY, None) == 401
    outcomes = [(r.outcome, r.error) for r in sim.received("acme")]
    assert outcomes[0] == ("accepted", None)
    assert outcomes[1] == ("bad_signature", "no v1 signature matches the body")
    assert outcomes[2] == ("bad_signature", "timestamp outside the 300s tolerance")
    assert [o for o, _ in outcomes[3:]] == ["bad_signature", "bad_signature"]
