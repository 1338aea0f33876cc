"""Why a lead was rejected or not sold: one shape for screening, intake and the API.

A leaf module, so screening can give reasons without importing the lead schemas.
"""

from __future__ import annotations

from pydantic import BaseModel


class Reason(BaseModel):
    """A stable code and a sentence: why a lead was rejected or not sold."""

    code: str
    message: str
    field: str | None = None
