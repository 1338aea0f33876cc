"""Place one simulated phone call against a running pingtree (`pingtree call`, the demo).

The agents the carrier dials come from a YAML file (examples/agents.yaml): number or SIP
URI -> {behaviour, ring_s, talk_s, lines}.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pingtree.simulator.telephony import Carrier
from pingtree.simulator.telephony_agents import Agent
from pingtree.simulator.telephony_transcript import CallTranscript

AGENT_KEYS = frozenset({"behaviour", "ring_s", "talk_s", "lines"})


class AgentsFileError(ValueError):
    """An agents file that cannot be used: names the file, the key and the reason."""


def load_agents(path: Path) -> dict[str, Agent]:
    """The agents a file describes."""
    try:
        raw: Any = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise AgentsFileError(f"{path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise AgentsFileError(f"{path}: expected a mapping of number or SIP URI to an agent")
    agents: dict[str, Agent] = {}
    for target, spec in raw.items():
        if not isinstance(spec, dict) or not set(spec) <= AGENT_KEYS:
            allowed = ", ".join(sorted(AGENT_KEYS))
            raise AgentsFileError(f"{path}: {target}: expected a mapping of {allowed}")
        try:
            agents[str(target)] = Agent(**spec)
        except (TypeError, ValueError) as exc:
            raise AgentsFileError(f"{path}: {target}: {exc}") from exc
    return agents


async def place_call(
    base_url: str,
    auth_token: str,
    agents: dict[str, Agent],
    *,
    caller: str,
    number: str,
    digits: list[str],
) -> CallTranscript:
    """One call from caller to a tracking number, followed to its end."""
    base = base_url.rstrip("/")
    carrier = Carrier(
        f"{base}/calls/voice",
        auth_token,
        agents,
        status_callback_url=f"{base}/calls/status",
        timeout_s=20.0,
        max_requests=200,
        pause_real_s=0.05,
    )
    return await carrier.place_call(from_=caller, to=number, digits=digits)
