"""One HTTP request to the API: send, read within budget, time, classify, parse, record.

:class:`ApiSession` is the only place that touches httpx. Every failure leaves
it as exactly one :class:`~exporter.agora.errors.AgoraError`, and every request
sent is reported once to ``on_request`` with its outcome and duration.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import httpx
from pydantic import SecretStr

from exporter.agora.answer_sizes import ANSWER_SIZES
from exporter.agora.classify import LIMIT_CODE, SUCCESS_CODES, error_for_code, error_for_status
from exporter.agora.decoding import ACCEPT_ENCODING, AnswerReader, AnswerRefusedError
from exporter.agora.errors import (
    OUTCOME_SUCCESS,
    AgoraError,
    ErrorContext,
    InvalidResponseError,
    RequestTimeoutError,
    TransportError,
)
from exporter.agora.limits import Endpoint
from exporter.agora.models import RequestRecord, to_int
from exporter.agora.parsing import ShapeError

log = logging.getLogger(__name__)

T = TypeVar("T")
Params = Mapping[str, str | int | None]
Parser = Callable[[Mapping[str, Any]], T]

_MAX_TEXT = 200
REDACTED = "[redacted]"
DEFAULT_ANSWER_S = 10.0
_ACCEPT = {"Accept-Encoding": ACCEPT_ENCODING}


class Redactor:
    """Replaces every credential (and its Basic-auth encodings) in a text."""

    def __init__(self, customer_id: SecretStr, customer_secret: SecretStr) -> None:
        cid, secret = customer_id.get_secret_value(), customer_secret.get_secret_value()
        pair = f"{cid}:{secret}"
        token = base64.b64encode(pair.encode()).decode()
        texts = sorted({s for s in (pair, token, secret, cid) if s}, key=len, reverse=True)
        # Kept as SecretStr so that no repr, log or debugger dump shows them.
        self._secrets = tuple(SecretStr(text) for text in texts)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret.get_secret_value(), REDACTED)
        return text

    def clip(self, text: str) -> str:
        """A redacted, one-line, bounded copy of a text taken from a response."""
        flat = " ".join(self(text).split())
        return flat if len(flat) <= _MAX_TEXT else flat[: _MAX_TEXT - 3] + "..."


class SecretBasicAuth(httpx.Auth):
    """HTTP Basic auth that keeps the credentials as ``SecretStr`` until sent."""

    def __init__(self, customer_id: SecretStr, customer_secret: SecretStr) -> None:
        self._customer_id = customer_id
        self._customer_secret = customer_secret

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        pair = f"{self._customer_id.get_secret_value()}:{self._customer_secret.get_secret_value()}"
        request.headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        yield request

    def __repr__(self) -> str:
        return "SecretBasicAuth(**********)"


class ApiSession:
    def __init__(
        self,
        http: httpx.Client,
        redactor: Redactor,
        clock: Callable[[], float],
        on_request: Callable[[RequestRecord], None] | None,
    ) -> None:
        self._http = http
        self._redact = redactor
        self._clock = clock
        self._on_request = on_request

    def close(self) -> None:
        self._http.close()

    def call(self, endpoint: Endpoint, params: Params, parse: Parser[T]) -> T:
        """GET the endpoint and parse the answer; raise one AgoraError on any failure."""
        started = self._clock()
        try:
            response = self._send(endpoint, params)
            ctx = self._context(response)
            body = self._body(endpoint, response, ctx)
            ctx["request_id"] = ctx.get("request_id") or self._body_request_id(body)
            self._check_code(endpoint, body, ctx)
            result = self._parse(endpoint, body, parse, ctx)
        except AgoraError as exc:
            self._record(endpoint, exc.outcome, started, exc.request_id, exc.http_status)
            raise
        self._record(
            endpoint, OUTCOME_SUCCESS, started, ctx.get("request_id"), response.status_code
        )
        return result

    def _send(self, endpoint: Endpoint, params: Params) -> httpx.Response:
        query = {key: str(value) for key, value in params.items() if value is not None}
        # Lists stay comma separated as in the reference (uids=1,2), not 1%2C2.
        url = f"{endpoint.value}?{urlencode(query, safe=',', quote_via=quote)}"
        # httpx times each read, not the answer: a body trickling in byte by byte
        # would hold the poll (and shutdown) for ever. The whole answer gets one
        # deadline, as long as one read may take.
        deadline = self._clock() + (self._http.timeout.read or DEFAULT_ANSWER_S)
        try:
            with self._http.stream("GET", url, headers=_ACCEPT) as streamed:
                body = self._read(endpoint, streamed, deadline)
                headers = streamed.headers.copy()
                for name in ("Content-Encoding", "Content-Length", "Transfer-Encoding"):
                    headers.pop(name, None)
                status, request = streamed.status_code, streamed.request
                return httpx.Response(status, headers=headers, content=body, request=request)
        except httpx.TimeoutException as exc:
            raise RequestTimeoutError(endpoint, detail=self._describe(exc)) from None
        except httpx.DecodingError as exc:  # only from answers httpx decoded (made in memory)
            raise InvalidResponseError(endpoint, detail=self._describe(exc)) from None
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, OSError) as exc:
            raise TransportError(endpoint, detail=self._describe(exc)) from None

    def _read(self, endpoint: Endpoint, streamed: httpx.Response, deadline: float) -> bytes:
        """The decoded body, taken raw off the wire and decoded here within the endpoint's
        budget (``decoding.py``); a refused answer closes its connection."""
        codings = streamed.headers.get_list("Content-Encoding")
        chunks: Iterable[bytes]
        if streamed.is_stream_consumed:  # made in memory (httpx.MockTransport), decoded by httpx
            chunks, codings = (streamed.content,), []
        else:
            chunks = streamed.iter_raw()
        try:
            reader = AnswerReader(ANSWER_SIZES[endpoint], codings)
            for raw in chunks:
                reader.feed(raw)
                if self._clock() > deadline:
                    raise RequestTimeoutError(endpoint, detail="the answer arrived too slowly")
            return reader.finish()
        except AnswerRefusedError as exc:
            _hang_up(streamed)
            detail = self._redact.clip(str(exc))
            raise InvalidResponseError(endpoint, detail=detail, **self._context(streamed)) from None

    def _describe(self, exc: Exception) -> str:
        text = str(exc)
        return self._redact.clip(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)

    def _context(self, response: httpx.Response) -> ErrorContext:
        request_id = response.headers.get("X-Request-ID")
        return {
            "http_status": response.status_code,
            "request_id": self._redact.clip(request_id) if request_id else None,
        }

    def _body(
        self, endpoint: Endpoint, response: httpx.Response, ctx: ErrorContext
    ) -> dict[str, Any]:
        """The JSON object in the body; an error for a failed status or a non-JSON body."""
        body, problem = _decode(response.content)
        if not response.is_success:
            raise self._status_error(endpoint, response.status_code, body, ctx)
        if body is None:
            content_type = response.headers.get("Content-Type", "no content type")
            detail = f"{problem} ({self._redact.clip(content_type)})"
            raise InvalidResponseError(endpoint, detail=detail, **ctx)
        return body

    def _status_error(
        self, endpoint: Endpoint, status: int, body: dict[str, Any] | None, ctx: ErrorContext
    ) -> AgoraError:
        """A non-2xx status; a body ``code: 300`` is more specific than the status."""
        if body is not None:
            ctx = {**ctx, "api_message": self._message(body)}
            ctx["request_id"] = ctx.get("request_id") or self._body_request_id(body)
            if _safe_code(body) == LIMIT_CODE:
                return error_for_code(endpoint, LIMIT_CODE, ctx["api_message"], ctx)
        return error_for_status(endpoint, status, ctx)

    def _check_code(self, endpoint: Endpoint, body: Mapping[str, Any], ctx: ErrorContext) -> None:
        try:
            code = _code(body)
        except ValueError:
            raise InvalidResponseError(endpoint, detail="'code' is not a number", **ctx) from None
        if code is None or code in SUCCESS_CODES:
            return
        message = self._message(body)
        raise error_for_code(endpoint, code, message, {**ctx, "api_message": message})

    def _parse(
        self, endpoint: Endpoint, body: Mapping[str, Any], parse: Parser[T], ctx: ErrorContext
    ) -> T:
        try:
            return parse(body)
        except ShapeError as exc:
            raise InvalidResponseError(
                endpoint, detail=self._redact.clip(str(exc)), **ctx
            ) from None
        except (ValueError, TypeError, ArithmeticError, LookupError, RecursionError) as exc:
            # A parser bug on some odd answer still leaves as the one typed error.
            detail = f"the answer could not be read ({type(exc).__name__})"
            raise InvalidResponseError(endpoint, detail=detail, **ctx) from None

    def _message(self, body: Mapping[str, Any]) -> str | None:
        message = body.get("message")
        return self._redact.clip(message) if isinstance(message, str) and message else None

    def _body_request_id(self, body: Mapping[str, Any]) -> str | None:
        raw = body.get("requestId")
        if isinstance(raw, str | int) and not isinstance(raw, bool) and str(raw):
            return self._redact.clip(str(raw))
        return None

    def _record(
        self,
        endpoint: Endpoint,
        outcome: str,
        started: float,
        request_id: str | None,
        http_status: int | None,
    ) -> None:
        if self._on_request is None:
            return
        duration = max(0.0, self._clock() - started)
        record = RequestRecord(
            endpoint=endpoint,
            outcome=outcome,
            duration_s=duration,
            request_id=request_id,
            http_status=http_status,
        )
        try:
            self._on_request(record)
        except Exception:
            log.exception("on_request callback failed", extra={"endpoint": endpoint.label})


def _hang_up(response: httpx.Response) -> None:
    """Close the connection an answer came on, so that nothing more is read from it.

    A refused answer may have been read to its end, and httpx would then keep the
    connection for the next request; httpcore's ``network_stream`` extension
    closes it, and the pool drops a closed connection before reusing it.
    """
    close = getattr(response.extensions.get("network_stream"), "close", None)
    if callable(close):
        with contextlib.suppress(Exception):
            close()


def _decode(content: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """The decoded JSON object, or None and what is wrong with the body."""
    if not content.strip():
        return None, "empty body"
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):
        return None, "the body is not JSON"
    if not isinstance(body, dict):
        return None, f"the body is a JSON {type(body).__name__}, not an object"
    return body, None


def _code(body: Mapping[str, Any]) -> int | None:
    raw = body.get("code")
    return None if raw is None or raw == "" else to_int(raw)


def _safe_code(body: Mapping[str, Any]) -> int | None:
    try:
        return _code(body)
    except ValueError:
        return None
