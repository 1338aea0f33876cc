"""`pingtree operators create|list|rotate|revoke` against both databases."""

from __future__ import annotations

import re

from tests.config.conftest import Cli, cli

__all__ = ["cli"]

TOKEN_LINE = re.compile(r"^token for operator (\S+) \(shown once\): (pto_\S+)$", re.M)


def test_operators_from_the_cli(cli: Cli) -> None:
    created = cli("operators", "create", "ann", "--role", "analyst")
    assert created.exit_code == 0, created.output
    assert "operator ann (analyst) created" in created.output
    first = TOKEN_LINE.search(created.output)
    assert first is not None and first[1] == "ann"

    again = cli("operators", "create", "ann", "--role", "admin")
    assert again.exit_code == 1 and "exists" in again.output
    bad_role = cli("operators", "create", "bob", "--role", "boss")
    assert bad_role.exit_code != 0 and "boss" in bad_role.output

    rotated = cli("operators", "rotate", "ann")
    assert rotated.exit_code == 0, rotated.output
    second = TOKEN_LINE.search(rotated.output)
    assert second is not None and second[2] != first[2]

    listed = cli("operators", "list")
    assert listed.exit_code == 0
    assert re.search(r"^ann\tanalyst\tactive\tcreated .*, rotated ", listed.output, re.M)
    assert first[2] not in listed.output and second[2] not in listed.output

    assert cli("operators", "revoke", "ann").exit_code == 0
    assert re.search(r"^ann\tanalyst\trevoked ", cli("operators", "list").output, re.M)
    refused = cli("operators", "rotate", "ann")
    assert refused.exit_code == 1 and "revoked" in refused.output
    assert cli("operators", "revoke", "nobody").exit_code == 1
