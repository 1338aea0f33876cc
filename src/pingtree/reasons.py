"""Why a lead was rejected or not sold: one shape for screening, intake and the API.

A leaf module, so screening can give reasons without importing the lead schemas.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class Reason(BaseModel):
    """A stable code and a sentence: why a lead was rejected or not sold."""

    code: str = Field(description="a stable reason code (see the posting spec's table)")
    message: str = Field(description="a sentence for people; may change")
    field: str | None = Field(default=None, description="the lead field at fault, if one is")
