"""The OpenAPI document declares both credentials and what each route requires."""

from __future__ import annotations

from typing import Any

from tests.engine.conftest import Harness

PUBLISHER_PATHS = {
    "/api/v1/leads",
    "/api/v1/leads/{lead_id}",
    "/api/v1/pings",
    "/api/v1/posts",
    "/api/v1/reports",
}
BUYER_PATHS = {"/api/v1/returns", "/api/v1/returns/{return_id}", "/api/v1/funds"}
ADMIN_ONLY = {"/api/v1/admin/ledger/credits", "/api/v1/admin/ledger/payments"}
ADMIN_ONLY.add("/api/v1/admin/ledger/adjustments")  # money is booked by admins only


async def test_security_schemes_and_each_routes_requirement(engine_sqlite: Harness) -> None:
    doc: dict[str, Any] = (await engine_sqlite.client.get("/openapi.json")).json()
    assert doc["components"]["securitySchemes"] == {
        "PublisherKey": {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": "a publisher's API key",
        },
        "OperatorToken": {
            "type": "http",
            "scheme": "bearer",
            "description": doc["components"]["securitySchemes"]["OperatorToken"]["description"],
        },
        "BuyerKey": {
            "type": "apiKey",
            "in": "header",
            "name": "X-Buyer-Key",
            "description": "a buyer's API key (`api_key` in the buyer's configuration)",
        },
    }
    operations = [
        (method, path, op) for path, ops in doc["paths"].items() for method, op in ops.items()
    ]
    assert len(operations) == 47  # the telephony webhooks are not in the document
    for method, path, op in operations:
        if path == "/api/v1/consent/{consent_id}":  # the signed link is the credential
            assert "security" not in op, (method, path)
            continue
        if path in PUBLISHER_PATHS:
            assert op["security"] == [{"PublisherKey": []}], (method, path)
            continue
        if path in BUYER_PATHS:
            assert op["security"] == [{"BuyerKey": []}], (method, path)
            continue
        assert path.startswith("/api/v1/admin/"), path
        [requirement] = op["security"]
        roles = requirement["OperatorToken"]
        expected = ["admin", "operator", "analyst"] if method == "get" else ["admin", "operator"]
        if path in ADMIN_ONLY:
            expected = ["admin"]
        assert roles == expected, (method, path)
        # X-API-Key is a security scheme, not a loose header parameter
        assert all(p["name"].lower() != "x-api-key" for p in op.get("parameters", []))


async def test_operation_names_and_pingtree_error_shapes(engine_sqlite: Harness) -> None:
    doc: dict[str, Any] = (await engine_sqlite.client.get("/openapi.json")).json()
    ids = {
        (method, path): op["operationId"]
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
    }
    assert ids[("post", "/api/v1/leads")] == "post_lead"
    assert ids[("get", "/api/v1/leads/{lead_id}")] == "get_lead"
    assert ids[("post", "/api/v1/pings")] == "post_ping"
    assert ids[("put", "/api/v1/admin/{kind}/{name}")] == "put_resource"
    assert len(set(ids.values())) == len(ids)
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    error = {"$ref": "#/components/schemas/ErrorAnswer"}
    responses = doc["paths"]["/api/v1/leads"]["post"]["responses"]
    for code in ("401", "403", "409", "422", "429", "503"):
        assert responses[code]["content"]["application/json"]["schema"] == error, code
    assert doc["components"]["schemas"]["ErrorAnswer"]["required"] == [
        "lead_id",
        "status",
        "reasons",
    ]
    assert doc["components"]["schemas"]["LeadAnswer"]["examples"][0]["status"] == "sold"
    # the declared 422 is the body pingtree really answers
    bad = await engine_sqlite.client.post(
        "/api/v1/leads", json={"vertical": "auto"}, headers={"X-API-Key": "nobody-0000000000"}
    )
    assert bad.status_code in (401, 422)
    assert set(bad.json()) == {"lead_id", "status", "reasons"}


async def test_docs_and_redoc_load_their_assets_from_pingtree(engine_sqlite: Harness) -> None:
    client = engine_sqlite.client
    docs = (await client.get("/docs")).text
    redoc = (await client.get("/redoc")).text
    assert "cdn.jsdelivr.net" not in docs + redoc
    assert "fonts.googleapis.com" not in redoc
    for asset in (
        "/console/static/docs/swagger-ui-bundle.js",
        "/console/static/docs/swagger-ui.css",
    ):
        assert asset in docs
        served = await client.get(asset)
        assert served.status_code == 200 and len(served.content) > 100_000, asset
    assert "/console/static/docs/redoc.standalone.js" in redoc
    js = await client.get("/console/static/docs/redoc.standalone.js")
    assert js.status_code == 200 and len(js.content) > 100_000
    assert (await client.get("/docs/oauth2-redirect")).status_code == 200
