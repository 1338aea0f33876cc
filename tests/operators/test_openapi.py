"""The OpenAPI document declares both credentials and what each route requires."""

from __future__ import annotations

from typing import Any

from tests.engine.conftest import Harness

PUBLISHER_PATHS = {"/api/v1/leads", "/api/v1/leads/{lead_id}", "/api/v1/pings", "/api/v1/posts"}


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
    }
    operations = [
        (method, path, op) for path, ops in doc["paths"].items() for method, op in ops.items()
    ]
    assert len(operations) == 22
    for method, path, op in operations:
        if path in PUBLISHER_PATHS:
            assert op["security"] == [{"PublisherKey": []}], (method, path)
            continue
        assert path.startswith("/api/v1/admin/"), path
        [requirement] = op["security"]
        roles = requirement["OperatorToken"]
        expected = ["admin", "operator", "analyst"] if method == "get" else ["admin", "operator"]
        assert roles == expected, (method, path)
        # X-API-Key is a security scheme, not a loose header parameter
        assert all(p["name"].lower() != "x-api-key" for p in op.get("parameters", []))
