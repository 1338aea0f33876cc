"""Simulated buyer endpoints on a local HTTP server, for the demo, tests and benchmarks."""

from pingtree.simulator.behaviour import SimBuyer, SimulatorConfig
from pingtree.simulator.config_file import SimulatorConfigError, load_config
from pingtree.simulator.running import EndpointKind, RunningSimulator, serve, start_simulator
from pingtree.simulator.server import create_app
from pingtree.simulator.state import ReceivedRequest

__all__ = [
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
