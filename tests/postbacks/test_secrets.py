"""A postback's signing secret given in clear is encrypted when applied, never shown."""

from __future__ import annotations

from tests.engine.conftest import ADMIN_TOKEN, Harness, sim_buyer
from tests.factories import campaign, document, tier
from tests.returns.terms import with_terms

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def test_a_clear_secret_is_sealed_and_an_export_hides_it(engine_sqlite: Harness) -> None:
    h = engine_sqlite
    h.buyers(sim_buyer("apex"))
    doc = document([campaign("apex", h.sim)], [tier("t", "priority", ["apex"])])
    hook = {"url": "http://127.0.0.1:9/pub", "secret": "in-clear-secret"}
    await h.configure(
        with_terms(
            doc,
            publisher={"postback": hook},
            buyers={"apex": {"webhook": {**hook, "secret": {"env": "APEX_HOOK"}}}},
        )
    )
    publisher = (await h.client.get("/api/v1/admin/publishers/pub", headers=ADMIN)).json()
    assert publisher["postback"]["secret"].startswith("enc:")
    assert h.rt.catalog.publishers["pub"].postback.secret.startswith("enc:")  # type: ignore[union-attr]
    buyer = (await h.client.get("/api/v1/admin/buyers/apex", headers=ADMIN)).json()
    assert buyer["webhook"]["secret"] == {"env": "APEX_HOOK"}
    assert "api_key" not in buyer and len(buyer["api_key_sha256"]) == 64
    exported = (await h.client.get("/api/v1/admin/config", headers=ADMIN)).json()
    assert "in-clear-secret" not in str(exported)
