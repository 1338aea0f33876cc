"""The admin API by role: analysts read, operators change, revoked tokens stop at once."""

from __future__ import annotations

from pingtree.operators import Role, repository
from tests.engine.conftest import Harness, sim_buyer
from tests.factories import campaign, document, tier
from tests.operators.conftest import add_operator

BUYER = {"name": "gamma", "contact_email": "ops@gamma.example"}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_each_role_does_what_it_may(engine: Harness) -> None:
    h = engine
    h.buyers(sim_buyer("alpha"))
    await h.configure(document([campaign("alpha", h.sim)], [tier("t1", "priority", ["alpha"])]))
    analyst = await add_operator(h.rt, "ann", Role.ANALYST)
    operator = await add_operator(h.rt, "otto", Role.OPERATOR)

    assert (await h.client.get("/api/v1/admin/buyers", headers=_bearer(analyst))).is_success
    refused = await h.client.put("/api/v1/admin/buyers/gamma", json=BUYER, headers=_bearer(analyst))
    assert refused.status_code == 403
    [reason] = refused.json()["reasons"]
    assert reason["code"] == "forbidden_for_role"
    assert "'ann' (analyst) may not configure" in reason["message"]

    made = await h.client.put("/api/v1/admin/buyers/gamma", json=BUYER, headers=_bearer(operator))
    assert made.status_code == 200, made.text
    review = await h.client.post(
        "/api/v1/admin/suppressions", json={"emails": ["a@b.example"]}, headers=_bearer(operator)
    )
    assert review.status_code == 200, review.text

    async with h.rt.sessions() as session, session.begin():
        await repository.revoke(session, "otto", now=h.rt.clock.now(), actor="test")
    gone = await h.client.get("/api/v1/admin/buyers", headers=_bearer(operator))
    assert gone.status_code == 401
    assert gone.json()["reasons"][0]["code"] == "invalid_admin_token"
