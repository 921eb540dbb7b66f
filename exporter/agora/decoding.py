"""Reading one answer as it arrives, within its budget: no step may overshoot it.

:class:`AnswerReader` takes the raw bytes off the wire (before any content
decoding), undoes at most one content-encoding (gzip or deflate; identity is
no encoding) with ``zlib`` in steps that never produce more than the budget
has left, and counts the JSON elements of what it decoded (:class:`ElementCounter`)
before anything is parsed. Anything outside the budget, more than one
encoding, an encoding it does not know, or compressed data that is broken or
cut short raises :class:`AnswerRefusedError` at once: a 1 KB answer that would
inflate to 1 GiB stops after the budget, never after a whole chunk.

Pure: no I/O and no httpx; the session feeds it and turns a refusal into an
``invalid_response``.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

from exporter.agora.answer_sizes import AnswerSize

ACCEPT_ENCODING = "gzip, deflate"
"""What the exporter asks for (httpx would add br and zstd when installed)."""

STEP_BYTES = 64 * 1024
"""The most one decompression step produces (less when the budget has less left)."""

_GZIP = ("gzip", "x-gzip")
_DEFLATE = "deflate"
_IDENTITY = "identity"

# A complete string (removed), or a string the text ends inside of (kept, so that its
# state carries into the next chunk). Possessive, and always matching from a quote
# outside strings: linear in the text, whatever it holds.
_STRINGS = re.compile(
    rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"|("[^"\\]*+(?:\\.[^"\\]*+)*+\\?\Z)',
    re.DOTALL,
)
_SEPARATORS = (b"[", b"{", b",", b":")


class AnswerRefusedError(ValueError):
    """The answer breaks its budget or its encoding; the message says how."""


def content_codings(values: Sequence[str]) -> list[str]:
    """The content-codings applied, outermost last; ``identity`` and blanks left out."""
    codings = (part.strip().lower() for value in values for part in value.split(","))
    return [coding for coding in codings if coding and coding != _IDENTITY]


def _named(coding: str) -> str:
    return repr(coding if len(coding) <= 40 else coding[:37] + "...")


class ElementCounter:
    """Counts ``[``, ``{``, ``,`` and ``:`` outside JSON strings, chunk by chunk.

    Every JSON value and key except the outermost value follows one of them, so
    the count bounds how many objects parsing would make. Strings may span
    chunks: what matters of an unfinished one (whether it ends in a pending
    backslash) is carried over, never the string itself.
    """

    def __init__(self) -> None:
        self.count = 0
        self._carry = b""

    def feed(self, chunk: bytes) -> int:
        """Count the separators in one more chunk; returns the running count."""
        stripped = _STRINGS.sub(rb"\1", self._carry + chunk)
        open_at = stripped.find(b'"')
        outside = stripped if open_at < 0 else stripped[:open_at]
        self.count += sum(outside.count(separator) for separator in _SEPARATORS)
        if open_at < 0:
            self._carry = b""
        else:
            tail = stripped[open_at:]
            pending = (len(tail) - len(tail.rstrip(b"\\"))) % 2 == 1
            self._carry = b'"\\' if pending else b'"'
        return self.count


class _Inflater:
    """One gzip or deflate layer, decompressed a bounded step at a time."""

    def __init__(self, coding: str) -> None:
        self._gzip = coding in _GZIP
        self._fresh = True  # nothing decoded yet
        self._seen = b""  # deflate's input while fresh (a few bytes), to read again as raw
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16 if self._gzip else zlib.MAX_WBITS)

    @property
    def done(self) -> bool:
        return self._zlib.eof

    def step(self, data: bytes, limit: int) -> tuple[bytes, bytes]:
        """At most ``limit`` decoded bytes, and the input not yet consumed.

        Bytes after the end of the compressed stream are ignored, as httpx does.
        """
        if self._zlib.eof:
            return b"", b""
        if self._fresh and not self._gzip:
            self._seen += data
        try:
            out = self._zlib.decompress(data, limit)
        except zlib.error:
            if self._gzip or not self._fresh:
                raise AnswerRefusedError(self._broken()) from None
            # Servers send "deflate" both zlib-wrapped (RFC 9110) and raw, as httpx knows.
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            self._fresh, seen, self._seen = False, self._seen, b""
            return self.step(seen, limit)
        if out:
            self._fresh, self._seen = False, b""
        return out, self._zlib.unconsumed_tail

    def _broken(self) -> str:
        return f"the answer is not valid {'gzip' if self._gzip else 'deflate'} data"


class AnswerReader:
    """Collects one answer's decoded bytes within an :class:`AnswerSize`."""

    def __init__(self, size: AnswerSize, content_encoding: Sequence[str] = ()) -> None:
        self._size = size
        self._body = bytearray()
        self._elements = ElementCounter()
        self._wire = 0
        self._inflater = _inflater_for(content_codings(content_encoding))

    def feed(self, raw: bytes) -> None:
        """Take the next bytes off the wire; raises AnswerRefusedError beyond the budget."""
        self._wire += len(raw)
        if self._wire > self._size.max_bytes:
            raise AnswerRefusedError(self._too_large())
        if self._inflater is None:
            self._take(raw)
            return
        data = raw
        while True:
            limit = min(STEP_BYTES, self._size.max_bytes - len(self._body) + 1)
            out, data = self._inflater.step(data, limit)
            self._take(out)
            # A full step may leave output inside zlib: step again, even without input.
            if self._inflater.done or (not data and len(out) < limit):
                return

    def finish(self) -> bytes:
        """The whole decoded answer; raises AnswerRefusedError when it was cut short."""
        if self._inflater is not None and not self._inflater.done:
            raise AnswerRefusedError("the compressed answer is cut short")
        return bytes(self._body)

    def _take(self, piece: bytes) -> None:
        if len(self._body) + len(piece) > self._size.max_bytes:
            raise AnswerRefusedError(self._too_large())
        if self._elements.feed(piece) > self._size.max_elements:
            limit = self._size.max_elements
            raise AnswerRefusedError(f"the answer has more than {limit} JSON elements")
        self._body += piece

    def _too_large(self) -> str:
        return f"the answer is larger than {self._size.max_bytes} bytes"


def _inflater_for(codings: list[str]) -> _Inflater | None:
    if len(codings) > 1:
        shown = ", ".join(_named(coding) for coding in codings[:4])
        raise AnswerRefusedError(
            f"the answer has {len(codings)} content-encodings ({shown}); at most one is accepted"
        )
    if not codings:
        return None
    if codings[0] not in (*_GZIP, _DEFLATE):
        named = _named(codings[0])
        raise AnswerRefusedError(f"the answer's content-encoding {named} is not supported")
    return _Inflater(codings[0])
