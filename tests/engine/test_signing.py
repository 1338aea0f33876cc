"""Signed pings and posts, verified by the real simulator."""

from __future__ import annotations

from tests.engine.conftest import ADMIN_TOKEN, Harness, sim_buyer
from tests.factories import campaign, document, tier

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SECRET = "whsec-acme-7b1d4c9e"


def signed(h: Harness, name: str, secret: str) -> dict[str, object]:
    spec = campaign(name, h.sim, sim_buyer="acme", bid=True)
    spec["delivery"]["secrets"] = {"signing": secret}
    spec["delivery"]["signing"] = {"secret": "{{ secrets.signing }}"}
    return spec


async def test_signed_ping_and_post_pass_the_buyers_check(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    h.buyers(sim_buyer("acme", signing_secret=SECRET))
    await h.configure(document([signed(h, "acme", SECRET)], [tier("t", "ping_post", ["acme"])]))
    response = await h.post_lead()
    assert response.json()["status"] == "sold", response.text
    ping, post = h.sim.received("acme")
    assert (ping.outcome, post.outcome) == ("bid", "accepted")
    assert ping.header(
        "X-Pingtree-Signature",
    ).startswith("t=")  # type: ignore[union-attr]
    timeline = await h.client.get(
        f"/api/v1/admin/leads/{response.json()['lead_id']}", headers=ADMIN
    )
    assert SECRET not in timeline.text
    assert "X-Pingtree-Signature" in timeline.json()["attempts"][0]["request"]["headers"]


async def test_a_wrong_signing_secret_is_refused_by_the_buyer_and_the_lead_cascades(
    engine_sqlite: Harness,
) -> None:
    h = engine_sqlite
    h.buyers(sim_buyer("acme", signing_secret=SECRET), sim_buyer("backup"))
    campaigns = [signed(h, "acme", "not-what-the-buyer-has"), campaign("backup", h.sim)]
    await h.configure(
        document(campaigns, [tier("t1", "ping_post", ["acme"]), tier("t2", "priority", ["backup"])])
    )
    response = await h.post_lead()
    assert response.json()["status"] == "sold"
    [refused] = h.sim.received("acme")
    assert (refused.outcome, refused.http_status) == ("bad_signature", 401)
    assert len(h.sim.received("backup")) == 1
