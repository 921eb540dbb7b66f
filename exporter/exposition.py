"""The bytes of /metrics: rendered once per change and shared by every scraper.

With 22,000 series a scrape is 11 MB of text, and rendering it from the
collector's families takes most of a second of CPU. Nearly all of it is the
real-time section, which changes only when a poll commits or, in replay mode,
when the replay window moves on (every 20 s). So :class:`Exposition` keeps,
per negotiated format:

* the real-time section cut into blocks of consecutive series; a block is
  rendered again only when one of its series has new windows in the store (the
  store's values are immutable, so an unchanged series is the very same
  object), or everything when the replay window, the mode, ``timestamps`` or
  the plan changed;
* those bytes in chunks of about 256 KiB, each with its deflate stream made
  the first time a scraper asks for gzip: a commit rebuilds the few chunks its
  block's samples lie in, and a scrape sends the chunks as they are;
* the calls section, rendered again when the call state changes;
* everything else (insight, the exporter's own families), a few dozen
  samples, rendered at every scrape.

A gzip answer is one ordinary gzip member spliced from the chunks' deflate
streams (each ends on a byte boundary, without the final flag), the fresh
pieces' and the closing block, so it is compressed once per change, not per scrape.

Every piece is prometheus_client's own encoding of the collector's own families
(:data:`exporter.collector.SECTIONS`) cut at family boundaries, so the body is
byte for byte what an uncached render at the same instant gives. Each scrape
reads the state afresh, so nothing is served past a commit or a window
boundary; scrapes arriving during a render wait for it and share it.
"""

from __future__ import annotations

import copy
import struct
import threading
import weakref
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from prometheus_client.exposition import choose_encoder, gzip_accepted
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from exporter.collector import SECTIONS, CollectorInput, calls_families, realtime_families
from exporter.series import Series
from exporter.view import Mode
from exporter.windows import replay_window

BLOCK_SERIES = 64
"""Series per block: a commit renders one block again (~5 ms at 10 uids a series)."""
CHUNK_BYTES = 256 * 1024
MAX_FORMATS = 2
"""Formats kept at once (Prometheus asks for OpenMetrics, curl and wrk for text)."""
GZIP_LEVEL = 1
"""Level 1 deflates 11 MB of exposition in 30 ms to 5 %; level 5 takes 50 ms for 4.5 %."""
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, no mtime
_LAST_BLOCK = b"\x03\x00"  # an empty deflate block with the final flag

Source = Callable[[], CollectorInput]
Ref = Callable[[], object]
Part = bytes | memoryview


class _Families:
    """A fixed list of families, as the encoders' Collector."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> list[Metric]:
        return self._families


def _none() -> None:
    return None


def _ref(value: object) -> Ref:
    """A reference that does not keep ``value`` alive (a weak one) where it can be."""
    if value is None:
        return _none
    try:
        return weakref.ref(value)
    except TypeError:
        return lambda: value


def _dead() -> object:
    return _dead  # never identical to a real value


def _deflate(data: bytes) -> bytes:
    """A raw deflate stream of ``data`` that ends on a byte boundary and is not final."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)


class _Format:
    """One negotiated format: renders families to bytes, cut at family boundaries."""

    def __init__(self, encoder: Callable[[Collector], bytes], content_type: str) -> None:
        self._encoder = encoder
        self.content_type = content_type
        self.tail = encoder(_Families([]))  # "# EOF\n" in OpenMetrics, nothing in text
        self._headers: dict[tuple[str, str, str, str], bytes] = {}

    def render(self, families: Iterable[Metric]) -> bytes:
        """The families as the encoder writes them, without its closing tail."""
        out = self._encoder(_Families(list(families)))
        return out[: len(out) - len(self.tail)]

    def header(self, family: Metric) -> bytes:
        """The lines a family starts with (HELP, TYPE, UNIT): its rendering without samples."""
        key = (family.name, family.type, family.documentation, family.unit)
        found = self._headers.get(key)
        if found is None:
            empty = copy.copy(family)
            empty.samples = []
            found = self._headers[key] = self.render([empty])
        return found

    def samples(self, family: Metric) -> bytes:
        """Only the sample lines of a family."""
        out, header = self.render([family]), self.header(family)
        if not out.startswith(header):
            raise AssertionError(f"{family.name}: the encoding does not start with the header")
        return out[len(header) :]


@dataclass
class _Block:
    """Consecutive series of the plan, and what their windows were when last rendered."""

    series: Sequence[Series]
    keys: list[str]
    seen: list[Ref] = field(default_factory=list)

    def changed(self, data: CollectorInput) -> bool:
        get = data.windows.get
        return any(ref() is not get(key) for ref, key in zip(self.seen, self.keys, strict=True))

    def render(self, fmt: _Format, data: CollectorInput) -> list[bytes]:
        """The block's sample lines, one piece per real-time family."""
        self.seen = [_ref(data.windows.get(key)) for key in self.keys]
        return [fmt.samples(one) for one in realtime_families(replace(data, series=self.series))]


@dataclass
class _Chunk:
    """Bytes sent as one piece, and their deflate stream once a scraper asked for gzip.

    A real-time chunk joins its section's parts ``start:stop``, which then point into it.
    """

    data: bytes = b""
    start: int = 0
    stop: int = 0
    deflated: bytes | None = None


def _section_key(data: CollectorInput) -> tuple[object, ...]:
    """What the real-time section reads besides the series and their windows."""
    targets: tuple[tuple[str, int], ...] = ()
    if data.mode is Mode.REPLAY:
        found = (
            (budget.value, replay_window(data.now, state.lag_s))
            for budget, state in data.budgets.items()
        )
        targets = tuple(sorted(found))
    return (data.mode, data.timestamps, targets)


class _Realtime:
    """The real-time section of one format: blocks of series, parts in body order, chunks."""

    def __init__(self) -> None:
        self._series: Sequence[Series] | None = None
        self._section: tuple[object, ...] = ()
        self._windows: Ref = _dead
        self._blocks: list[_Block] = []
        self._parts: list[Part] = []  # per family: its header, then one part per block
        self._chunk_of: list[int] = []
        self.chunks: list[_Chunk] = []
        self.version = 0
        """Bumped whenever a chunk changed."""
        self._crc: tuple[int, int, int] = (-1, 0, 0)  # version, crc32, size

    def update(self, fmt: _Format, data: CollectorInput) -> int:
        """Bring the section up to ``data``; returns how many blocks had to be rendered."""
        section = _section_key(data)
        if self._series is not data.series or self._section != section:
            self._rebuild(fmt, data, section)
            return len(self._blocks)
        if self._windows() is data.windows:
            return 0
        stale = [index for index, block in enumerate(self._blocks) if block.changed(data)]
        dirty: set[int] = set()
        stride = len(self._blocks) + 1
        for index in stale:
            for family, piece in enumerate(self._blocks[index].render(fmt, data)):
                at = family * stride + 1 + index
                if piece != self._parts[at]:
                    self._parts[at] = piece
                    dirty.add(self._chunk_of[at])
        for index in sorted(dirty):
            self._join(self.chunks[index])
        self._windows = _ref(data.windows)
        self.version += bool(dirty)
        return len(stale)

    def _rebuild(self, fmt: _Format, data: CollectorInput, section: tuple[object, ...]) -> None:
        series = list(data.series)
        starts = range(0, len(series), BLOCK_SERIES)
        self._blocks = [
            _Block(chunk, [one.key for one in chunk])
            for chunk in (series[at : at + BLOCK_SERIES] for at in starts)
        ]
        rendered = [block.render(fmt, data) for block in self._blocks]
        headers = [fmt.header(one) for one in realtime_families(replace(data, series=()))]
        if any(len(pieces) != len(headers) for pieces in rendered):
            raise AssertionError(
                "the real-time section must yield the same families for any series"
            )
        self._parts = []
        for family, header in enumerate(headers):
            self._parts.append(header)
            self._parts.extend(pieces[family] for pieces in rendered)
        self._cut()
        self._series, self._section, self._windows = data.series, section, _ref(data.windows)
        self.version += 1

    def _cut(self) -> None:
        """Group the parts into chunks of about CHUNK_BYTES."""
        self.chunks, self._chunk_of, size = [], [], 0
        for at, part in enumerate(self._parts):
            if not self.chunks or size >= CHUNK_BYTES:
                self.chunks.append(_Chunk(start=at, stop=at))
                size = 0
            self.chunks[-1].stop = at + 1
            self._chunk_of.append(len(self.chunks) - 1)
            size += len(part)
        for chunk in self.chunks:
            self._join(chunk)

    def _join(self, chunk: _Chunk) -> None:
        chunk.data = b"".join(self._parts[chunk.start : chunk.stop])
        chunk.deflated = None
        view, offset = memoryview(chunk.data), 0
        for at in range(chunk.start, chunk.stop):
            size = len(self._parts[at])
            self._parts[at] = view[offset : offset + size]
            offset += size

    def crc(self) -> tuple[int, int]:
        """CRC-32 and length of the whole section (for the gzip trailer)."""
        if self._crc[0] != self.version:
            crc, size = 0, 0
            for chunk in self.chunks:
                crc, size = zlib.crc32(chunk.data, crc), size + len(chunk.data)
            self._crc = (self.version, crc, size)
        return self._crc[1], self._crc[2]


@dataclass
class _Cached:
    """Everything kept for one format."""

    fmt: _Format
    realtime: _Realtime = field(default_factory=_Realtime)
    calls_key: object = _dead
    calls: _Chunk = field(default_factory=_Chunk)


class Exposition:
    """/metrics for the app: ``payload(accept, accept_encoding)`` -> (body parts, headers).

    ``source`` is read once per scrape; its window source must be the store's
    snapshot (immutable per-series values, replaced, never changed, on commit).
    """

    def __init__(self, source: Source) -> None:
        self._source = source
        self._lock = threading.Lock()
        self._formats: OrderedDict[str, _Cached] = OrderedDict()
        self.blocks_rendered = 0
        """Real-time blocks rendered so far (tests and the benchmark read it)."""

    def payload(self, accept: str, accept_encoding: str) -> tuple[list[bytes], dict[str, str]]:
        """The exposition in the format the scraper asked for, gzipped if accepted.

        The body is a list of parts to send one after the other.
        """
        encoder, content_type = choose_encoder(accept)
        headers = {"Content-Type": content_type}
        with self._lock:
            cached = self._formats.get(content_type)
            if cached is None:
                cached = self._formats[content_type] = _Cached(_Format(encoder, content_type))
                while len(self._formats) > MAX_FORMATS:
                    self._formats.popitem(last=False)
            self._formats.move_to_end(content_type)
            rest = self._render(cached, self._source())
            realtime = cached.realtime
            if not gzip_accepted(accept_encoding):
                return [chunk.data for chunk in realtime.chunks + rest], headers
            headers["Content-Encoding"] = "gzip"
            crc, size = realtime.crc()
            for chunk in rest:
                crc, size = zlib.crc32(chunk.data, crc), size + len(chunk.data)
            parts = [_GZIP_HEADER]
            for chunk in realtime.chunks + rest:
                if chunk.deflated is None:
                    chunk.deflated = _deflate(chunk.data)
                parts.append(chunk.deflated)
            return [*parts, _LAST_BLOCK, struct.pack("<II", crc, size & 0xFFFFFFFF)], headers

    def _render(self, cached: _Cached, data: CollectorInput) -> list[_Chunk]:
        """Bring the real-time section up to ``data``; return every later section's bytes."""
        fmt, rest = cached.fmt, list[_Chunk]()
        for section in SECTIONS:
            if section is realtime_families:
                if rest:
                    raise AssertionError("the real-time section must come first")
                self.blocks_rendered += cached.realtime.update(fmt, data)
            elif section is calls_families:
                if cached.calls_key != data.calls:
                    cached.calls_key = data.calls
                    cached.calls = _Chunk(fmt.render(section(data)))
                rest.append(cached.calls)
            else:
                rest.append(_Chunk(fmt.render(section(data))))
        rest.append(_Chunk(fmt.tail))
        return rest
