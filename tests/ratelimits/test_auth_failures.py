"""Wrong admin tokens and console logins: a client gets 10, then 429 with Retry-After."""

from __future__ import annotations

import httpx

from tests.engine.conftest import ADMIN_TOKEN, Harness

ATTACKS = 150
ALLOWED = 10  # AUTH_LIMIT in conftest


def _retry_after(response: httpx.Response) -> int:
    wait = int(response.headers["retry-after"])
    assert 1 <= wait <= 3600
    return wait


async def test_wrong_admin_tokens_are_answered_429_after_the_threshold(limited: Harness) -> None:
    async with limited.client_at("203.0.113.7") as attacker:
        codes = []
        for n in range(ATTACKS):
            r = await attacker.get(
                "/api/v1/admin/config", headers={"Authorization": f"Bearer guess-{n}"}
            )
            codes.append(r.status_code)
            if r.status_code == 429:
                _retry_after(r)
                assert r.json()["reasons"][0]["code"] == "too_many_failures"
        assert codes == [401] * ALLOWED + [429] * (ATTACKS - ALLOWED)
        # Locked out, even the right token is not tried: guessing it gains nothing.
        right = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        r = await attacker.get("/api/v1/admin/config", headers=right)
        assert r.status_code == 429
        _retry_after(r)
    # Another client is not locked out.
    async with limited.client_at("198.51.100.2") as operator:
        assert (await operator.get("/api/v1/admin/config", headers=right)).status_code == 200
        wrong = await operator.get("/api/v1/admin/config", headers={"Authorization": "Bearer x"})
        assert wrong.status_code == 401


async def test_missing_admin_token_is_not_counted_as_a_guess(limited: Harness) -> None:
    async with limited.client_at("203.0.113.8") as client:
        for _ in range(ALLOWED + 5):
            assert (await client.get("/api/v1/admin/config")).status_code == 401
        right = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        assert (await client.get("/api/v1/admin/config", headers=right)).status_code == 200


async def test_wrong_console_logins_are_answered_429_after_the_threshold(
    limited: Harness,
) -> None:
    async with limited.client_at("203.0.113.9") as attacker:
        codes = []
        for n in range(ATTACKS):
            r = await attacker.post("/console/login", data={"token": f"guess-{n}"})
            codes.append(r.status_code)
            if r.status_code == 429:
                _retry_after(r)
                assert "Too many failed logins" in r.text
        assert codes == [401] * ALLOWED + [429] * (ATTACKS - ALLOWED)
        r = await attacker.post("/console/login", data={"token": ADMIN_TOKEN})
        assert r.status_code == 429
        assert "set-cookie" not in r.headers
    async with limited.client_at("198.51.100.3") as operator:
        r = await operator.post("/console/login", data={"token": ADMIN_TOKEN})
        assert r.status_code == 303
        assert "set-cookie" in r.headers


async def test_console_bearer_guesses_count_with_logins(limited: Harness) -> None:
    async with limited.client_at("203.0.113.10") as attacker:
        for n in range(ALLOWED):
            r = await attacker.get("/console", headers={"Authorization": f"Bearer guess-{n}"})
            assert r.status_code == 303
        right = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        r = await attacker.get("/console", headers=right)
        assert r.status_code == 429
        _retry_after(r)
        login = await attacker.post("/console/login", data={"token": ADMIN_TOKEN})
        assert login.status_code == 429
    async with limited.client_at("198.51.100.4") as operator:
        assert (await operator.get("/console", headers=right)).status_code == 200


async def test_admin_and_console_failures_share_one_count(limited: Harness) -> None:
    async with limited.client_at("203.0.113.11") as attacker:
        for n in range(ALLOWED // 2):
            await attacker.post("/console/login", data={"token": f"guess-{n}"})
            await attacker.get("/api/v1/admin/config", headers={"Authorization": f"Bearer g{n}"})
        r = await attacker.get("/api/v1/admin/config", headers={"Authorization": "Bearer again"})
        assert r.status_code == 429


def test_the_default_is_ten_failures_a_minute() -> None:
    from pingtree.settings import Settings

    assert Settings().auth_failure_limit == "10/minute"
