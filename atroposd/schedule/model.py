"""The ``schedule`` object of an account (or of one platform of an account)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from atroposd.schedule.parse import parse_cron, parse_days, parse_time, parse_zone


def _bad(exc: ValueError) -> PydanticCustomError:
    """Our own message, without pydantic's ``Value error,`` prefix."""
    return PydanticCustomError("schedule", str(exc))


class ScheduleConfig(BaseModel):
    """When an account (or one of its platforms) posts.

    ``{"timezone": "America/New_York", "mode": "slots", "slots": {"mon-fri": ["09:00",
    "18:00"], "sat": ["12:00"]}, "min_spacing_minutes": 60, "catch_up_grace_minutes": 120}``;
    ``"cron": "0 9,18 * * 1-5"`` instead of ``slots`` is allowed. ``"native": true`` uploads
    ``lead_minutes`` ahead to platforms that schedule natively (YouTube, Facebook) and lets
    the platform publish at the slot.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = "UTC"
    mode: Literal["immediate", "slots"] | None = None  # None: slots when any are given
    slots: dict[str, list[str]] | None = None
    cron: str | None = None
    min_spacing_minutes: float = Field(0.0, ge=0, le=7 * 24 * 60)
    catch_up_grace_minutes: float = Field(120.0, ge=0)
    native: bool = False
    lead_minutes: float = Field(720.0, ge=1, le=30 * 24 * 60)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            parse_zone(value)
        except ValueError as exc:
            raise _bad(exc) from None
        return value

    @field_validator("slots")
    @classmethod
    def _slots(cls, value: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        try:
            for days, times in (value or {}).items():
                parse_days(days)
                for text in times:
                    parse_time(text)
        except ValueError as exc:
            raise _bad(exc) from None
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        try:
            if value is not None:
                parse_cron(value)
        except ValueError as exc:
            raise _bad(exc) from None
        return value

    @model_validator(mode="after")
    def _one_rule(self) -> ScheduleConfig:
        if self.slots and self.cron:
            raise _bad(ValueError("give slots or cron, not both"))
        if self.mode == "slots" and not self.slots and not self.cron:
            raise _bad(ValueError("mode 'slots' needs slots (e.g. {'mon-fri': ['09:00']}) or cron"))
        return self
