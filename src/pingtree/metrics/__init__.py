"""Prometheus figures of the running engine: leads, sales, buyers' latency, caps, deadlines."""

from pingtree.metrics.figures import Figures, render

__all__ = ["Figures", "render"]
