"""What the simulator says back: one value type for real answers and faults alike."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

Body = dict[str, Any]
JSON_TYPE = "application/json;charset=UTF-8"


@dataclass
class Answer:
    """An HTTP answer. ``body`` is sent as JSON unless ``raw`` is set.

    ``abort`` makes the server misbehave at the socket level: ``reset`` sends
    the headers and half the body then resets the connection, ``drop`` closes
    it without sending anything.
    """

    status: int
    body: Body | None = None
    raw: bytes | None = None
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    success: bool = False
    abort: str | None = None

    def payload(self) -> bytes:
        """The bytes of the body."""
        if self.raw is not None:
            return self.raw
        # NaN stays NaN (not valid JSON, as a buggy server would send it).
        return json.dumps(self.body, allow_nan=True).encode()

    @property
    def body_code(self) -> int | None:
        """The ``code`` in a JSON body, if any."""
        code = self.body.get("code") if self.body else None
        return code if isinstance(code, int) else None

    @property
    def message(self) -> str | None:
        """The ``message`` in a JSON body, if any."""
        message = self.body.get("message") if self.body else None
        return message if isinstance(message, str) else None


def error_answer(status: int, code: int, message: str) -> Answer:
    """The service's error shape: ``{"code": ..., "message": ..., "data": null}``."""
    return Answer(status, {"code": code, "message": message, "data": None})
