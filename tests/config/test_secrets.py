"""Secrets at rest: encrypted when applied, never exported in clear, re-encrypted on rotation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from pingtree.cli import app
from pingtree.credentials import SecretKeys
from tests.config.conftest import DEMO, DEMO_SIMULATOR, SECRET_KEY, Cli, demo_data

DEMO_CREDENTIALS = ("apex-secret", "delta-pass")
NEW_KEY = "q1ZwK3c0b2Z0a2V5LXJvdGF0aW9uLXRlc3QtMDAwMDA="


def _with_secret(value: object) -> dict[str, object]:
    data = demo_data()
    delivery = data["campaigns"][2]["delivery"]
    delivery["secrets"] = {"token": value}
    delivery["post"]["headers"] = {"X-Token": "{{ secrets.token }}"}
    return data


def test_secrets_are_stored_encrypted_and_applying_again_changes_nothing(cli: Cli) -> None:
    path = cli.write(_with_secret("tok-in-clear-123"))
    assert cli("apply", path).exit_code == 0
    stored = str(cli.rows())
    assert "tok-in-clear-123" not in stored
    assert not any(value in stored for value in DEMO_CREDENTIALS)  # older auth: sealed too
    assert "{{ secrets.auth_token }}" in stored and "{{ secrets.auth_password }}" in stored
    again = cli("apply", path)
    assert again.stdout.splitlines() == ["no changes"]
    exported = cli("export").stdout
    assert "tok-in-clear-123" not in exported and "enc:" in exported
    assert not any(value in exported for value in DEMO_CREDENTIALS)
    reapplied = cli("apply", cli.write(yaml.safe_load(exported), "exported.yaml"))
    assert reapplied.stdout.splitlines() == ["no changes"]


def test_a_secret_in_clear_without_a_key_is_refused(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PINGTREE_SECRET_KEY")
    name = demo_data()["campaigns"][2]["name"]
    result = cli("apply", cli.write(_with_secret("tok-in-clear-123")))
    assert result.exit_code == 1
    assert f"campaigns/{name}.delivery.secrets.token: is written in clear" in result.stderr
    assert cli.rows() == {}


def test_without_a_key_older_auth_is_exported_masked_and_cannot_be_reapplied(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PINGTREE_SECRET_KEY")
    assert cli("apply", str(DEMO)).exit_code == 0  # older files keep loading
    exported = cli("export").stdout
    assert not any(value in exported for value in DEMO_CREDENTIALS)
    assert "'***'" in exported
    refused = cli("apply", cli.write(yaml.safe_load(exported), "exported.yaml"))
    assert refused.exit_code == 1
    assert "*** is a masked value (from an export): give the real one" in refused.stderr


def test_env_secrets_stay_references(cli: Cli) -> None:
    path = cli.write(_with_secret({"env": "ACME_TOKEN"}))
    assert cli("apply", path).exit_code == 0
    assert "ACME_TOKEN" in cli("export").stdout


def test_encrypt_reads_stdin_and_prints_an_enc_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINGTREE_SECRET_KEY", SECRET_KEY)
    result = CliRunner().invoke(app, ["secrets", "encrypt"], input="s3cr3t-value\n")
    assert result.exit_code == 0, result.output
    sealed = result.stdout.strip()
    assert sealed.startswith("enc:") and "s3cr3t" not in sealed
    keys = SecretKeys.parse(SECRET_KEY)
    assert keys is not None and keys.open(sealed) == "s3cr3t-value"


def test_rotate_key_encrypts_every_stored_secret_with_the_new_key(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("apply", cli.write(_with_secret("tok-in-clear-123"))).exit_code == 0
    version = cli.version()
    monkeypatch.setenv("PINGTREE_SECRET_KEY", f"{NEW_KEY},{SECRET_KEY}")
    rotated = cli("secrets", "rotate-key")
    assert rotated.exit_code == 0, rotated.output
    assert "secrets of 4 campaign(s)" in rotated.stdout
    assert cli.version() == version + 1
    only_new = SecretKeys.parse(NEW_KEY)
    assert only_new is not None
    opened = sorted(
        only_new.open(value)
        for spec in cli.rows().values()
        for value in ((spec.get("delivery") or {}).get("secrets") or {}).values()
    )
    assert opened == ["apex-secret", "apex-secret", "delta-pass", "tok-in-clear-123"]


def test_generate_key_gives_a_usable_key() -> None:
    result = CliRunner().invoke(app, ["secrets", "generate-key"])
    keys = SecretKeys.parse(result.stdout.strip())
    assert keys is not None and keys.open(keys.seal("x")) == "x"


@pytest.mark.parametrize(
    ("change", "line"),
    [
        (
            {"post": {"headers": {"X-Token": "{{ secrets.nope }}"}}},
            "post.headers.X-Token refers to undeclared secret 'nope' (declared: none)",
        ),
        (
            {"signing": {"secret": "hunter2"}},
            "must name a declared secret, e.g. '{{ secrets.signing }}'",
        ),
    ],
)
def test_validate_names_secret_mistakes(
    cli: Cli, change: dict[str, dict[str, object]], line: str
) -> None:
    data = demo_data()
    delivery = data["campaigns"][2]["delivery"]
    for key, value in change.items():
        delivery[key] = {**delivery.get(key, {}), **value}
    result = cli("validate", cli.write(data))
    assert result.exit_code == 1
    assert line in result.stderr, result.stderr


def test_a_crashing_command_prints_no_secret(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(_with_secret("tok-secret-in-file-77"), sort_keys=False))
    env = {
        **os.environ,
        "PINGTREE_DATA_DIR": str(tmp_path / "data"),
        "PINGTREE_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/gone",
        "PINGTREE_BUYER_URL_ALLOW": DEMO_SIMULATOR,
        "PINGTREE_SECRET_KEY": SECRET_KEY,
    }
    crashed = subprocess.run(
        [sys.executable, "-c", "from pingtree.cli import main; main()", "apply", str(path)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert crashed.returncode == 1
    assert "OperationalError" in crashed.stderr  # it did crash, with a traceback
    assert "tok-secret-in-file-77" not in crashed.stdout + crashed.stderr
