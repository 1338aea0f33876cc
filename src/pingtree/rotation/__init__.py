"""Even rotation shared by every process that routes leads (Redis), for several servers."""

from pingtree.rotation.shared import SharedRotation

__all__ = ["SharedRotation"]
