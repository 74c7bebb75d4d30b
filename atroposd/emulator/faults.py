"""Fault injection: scripted failures on a platform's protocol steps.

A rule names a ``platform`` and one of its ``step``s (YouTube: ``token``, ``create``,
``chunk``, ``status``, ``list``) and fires on the ``nth`` matching request counted from
when the rule was installed (1-based), and on the ``times - 1`` following ones. Actions:

``status``            answer ``code`` (+ ``body``, ``headers``) instead of doing the work
``delay``             wait ``seconds``, then proceed normally
``drop``              close the TCP connection without answering and without doing the work
                      (a chunk's body is not read)
``commit_then_drop``  do the work completely (store the chunk, publish...), then close the
                      connection without answering: the client cannot know it succeeded
``commit_then_delay`` do the work completely, then answer after ``hold`` seconds (the
                      answer is on its way while the client may be stopped)
``commit_then_hang``  do the work completely, then hold the answer for ``hold`` seconds
                      before closing without answering (a client killed meanwhile never
                      learns the outcome)

``seconds`` delays any action. Rules count independently; when two would fire on the same
request the one installed first wins. Exhausted rules disappear from the listing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from atroposd.emulator.wire import Drop, Request, Response


class FaultAction(StrEnum):
    """What a firing rule does to the request."""

    STATUS = "status"
    DELAY = "delay"
    DROP = "drop"
    COMMIT_THEN_DROP = "commit_then_drop"
    COMMIT_THEN_HANG = "commit_then_hang"
    COMMIT_THEN_DELAY = "commit_then_delay"


class FaultRule(BaseModel):
    """One scripted failure, as posted to ``/_emulator/faults``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    platform: str
    step: str
    nth: int = Field(default=1, ge=1)
    times: int = Field(default=1, ge=1)
    action: FaultAction
    code: int | None = Field(default=None, ge=100, le=599)
    body: Any = None
    headers: dict[str, str] = Field(default_factory=dict)
    seconds: float = Field(default=0.0, ge=0.0, le=3600.0)
    hold: float = Field(default=60.0, ge=0.0, le=3600.0)

    @model_validator(mode="after")
    def _status_needs_code(self) -> FaultRule:
        if self.action is FaultAction.STATUS and self.code is None:
            raise ValueError("action 'status' needs 'code'")
        return self


@dataclass
class _Armed:
    rule: FaultRule
    seen: int = 0
    fired: int = 0

    @property
    def exhausted(self) -> bool:
        return self.seen >= self.rule.nth + self.rule.times - 1

    def to_json(self) -> dict[str, object]:
        return {**self.rule.model_dump(mode="json"), "seen": self.seen, "fired": self.fired}


ErrorBody = Callable[[int], object]


class FaultEngine:
    """Holds the installed rules and decides which one, if any, fires on a request."""

    def __init__(self) -> None:
        self._steps: dict[str, frozenset[str]] = {}
        self._rules: list[_Armed] = []

    def register(self, platform: str, steps: frozenset[str]) -> None:
        """Declare a platform and the steps its rules may target."""
        self._steps[platform] = steps

    def add(self, rules: list[FaultRule]) -> None:
        """Install rules after checking their platform and step exist."""
        for rule in rules:
            known = self._steps.get(rule.platform)
            if known is None:
                raise ValueError(f"unknown platform {rule.platform!r}")
            if rule.step not in known:
                raise ValueError(f"unknown step {rule.step!r} for {rule.platform}")
        self._rules.extend(_Armed(rule) for rule in rules)

    def clear(self) -> None:
        """Remove every rule."""
        self._rules.clear()

    def listing(self) -> list[dict[str, object]]:
        """Remaining rules with their counters."""
        return [armed.to_json() for armed in self._rules]

    def hit(self, platform: str, step: str) -> FaultRule | None:
        """Count one request on ``platform``/``step``; the rule that fires on it, if any."""
        chosen: FaultRule | None = None
        for armed in self._rules:
            if armed.rule.platform != platform or armed.rule.step != step:
                continue
            armed.seen += 1
            rule = armed.rule
            if chosen is None and rule.nth <= armed.seen < rule.nth + rule.times:
                armed.fired += 1
                chosen = rule
        self._rules = [armed for armed in self._rules if not armed.exhausted]
        return chosen


def _status_response(rule: FaultRule, error_body: ErrorBody) -> Response:
    code = rule.code if rule.code is not None else 500
    headers = tuple(rule.headers.items())
    if rule.body is None:
        return Response.json(code, error_body(code), headers)
    if isinstance(rule.body, str):
        has_type = any(k.lower() == "content-type" for k, _ in headers)
        extra = () if has_type else (("Content-Type", "text/plain; charset=UTF-8"),)
        return Response(code, rule.body.encode(), (*extra, *headers))
    return Response(code, json.dumps(rule.body).encode(), (_JSON, *headers))


_JSON = ("Content-Type", "application/json; charset=UTF-8")


async def run_step(
    engine: FaultEngine,
    platform: str,
    step: str,
    request: Request,
    work: Callable[[], Awaitable[Response]],
    error_body: ErrorBody,
) -> Response:
    """Run ``work`` for one protocol step, with whatever fault fires on it applied."""
    rule = engine.hit(platform, step)
    if rule is None:
        return await work()
    if rule.seconds:
        await asyncio.sleep(rule.seconds)
    if rule.action is FaultAction.STATUS:
        return _status_response(rule, error_body)  # the server drains the unread body
    if rule.action is FaultAction.DROP:
        raise Drop
    response = await work()
    if rule.action is FaultAction.COMMIT_THEN_DELAY:
        await asyncio.sleep(rule.hold)
        return response
    if rule.action in (FaultAction.COMMIT_THEN_DROP, FaultAction.COMMIT_THEN_HANG):
        await request.discard()  # the work may not have read the body (e.g. a rejection)
        if rule.action is FaultAction.COMMIT_THEN_HANG:
            await asyncio.sleep(rule.hold)
        raise Drop
    return response
