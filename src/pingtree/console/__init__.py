"""The operator console: server-rendered pages over the engine's data, for admin token holders."""

from pingtree.console.mount import mount_console

__all__ = ["mount_console"]
