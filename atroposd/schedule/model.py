"""The ``schedule`` object of an account (or of one platform of an account)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ScheduleConfig(BaseModel):
    """When an account (or one of its platforms) posts.

    ``{"timezone": "America/New_York", "mode": "slots", "slots": {"mon-fri": ["09:00",
    "18:00"], "sat": ["12:00"]}, "min_spacing_minutes": 60, "catch_up_grace_minutes": 120}``;
    ``"cron": "0 9,18 * * 1-5"`` instead of ``slots`` is allowed.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = "UTC"
    mode: Literal["immediate", "slots"] | None = None  # None: slots when any are given
    slots: dict[str, list[str]] | None = None
    cron: str | None = None
    min_spacing_minutes: float = Field(0.0, ge=0)
    catch_up_grace_minutes: float = Field(120.0, ge=0)
