"""Simulated buyer endpoints on a local HTTP server, and a simulated telephony carrier
placing calls on pingtree's voice webhooks, for the demo, tests and benchmarks."""

from pingtree.simulator.behaviour import SimBuyer, SimulatorConfig
from pingtree.simulator.config_file import SimulatorConfigError, load_config
from pingtree.simulator.running import EndpointKind, RunningSimulator, serve, start_simulator
from pingtree.simulator.server import create_app
from pingtree.simulator.state import ReceivedRequest
from pingtree.simulator.telephony import Carrier
from pingtree.simulator.telephony_agents import Agent, AgentBehaviour, CallStatus
from pingtree.simulator.telephony_transcript import CallTranscript, EndedBy

__all__ = [
    "Agent",
    "AgentBehaviour",
    "CallStatus",
    "CallTranscript",
    "Carrier",
    "EndedBy",
    "EndpointKind",
    "ReceivedRequest",
    "RunningSimulator",
    "SimBuyer",
    "SimulatorConfig",
    "SimulatorConfigError",
    "create_app",
    "load_config",
    "serve",
    "start_simulator",
]
