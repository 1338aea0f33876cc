"""Logs: the lead id carried along a lead's whole path, and a JSON formatter for production."""

from pingtree.logs.context import current_lead, for_lead
from pingtree.logs.formatter import JsonFormatter, configure

__all__ = ["JsonFormatter", "configure", "current_lead", "for_lead"]
