"""The real-time section of one format: blocks of series, rendered again only when they change.

The section is the collector's real-time families (family after family, each
its header then its samples). The plan's series are cut into blocks of
:data:`BLOCK_SERIES`; a block's samples in each family are one *part*, so the
section is, per family, its header and then one part per block. A family's
parts are grouped into :class:`Chunk` s of about :data:`CHUNK_BYTES`, the pieces
a scrape sends.

A block is rendered again when one of its series has another ``version`` than when
it was rendered: the store never changes a value it handed out but replaces it, with
a new version when something was fetched and the same one when it only let go of
windows no scrape shows; the store's change log names the series changed since the
snapshot last shown, so only their blocks are compared. Only the chunks holding a
changed part are joined again. When a replay window moves on (or the mode,
``timestamps`` or the series do), every block is rendered again. Each series replays
at the lag of its own poll interval (and shows that interval: a new plan's timing
renders every block again); the section is keyed on the window each *lag group*
shows, and lags are whole windows, so all groups move on at the same instants, once
every 20 s, as one lag did.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from exporter.realtime.series import Series
from exporter.realtime.view import Mode, SeriesWindows
from exporter.serving.collector import CollectorInput, realtime_families, realtime_lines
from exporter.serving.exposition.encoding import Chunk, Format, crc_of
from exporter.store.data import Position, StoreSnapshot
from exporter.timing.windows import WINDOW_S, floor_window, replay_window

BLOCK_SERIES = 16
"""Series per block: a commit renders 16 series again (~1 ms at 10 uids a series)."""
CHUNK_BYTES = 256 * 1024

Ref = Callable[[], object]
Part = bytes | memoryview
Pause = Callable[[], None]


def _go_on() -> None:
    """A scrape's own rebuild does not pause: it is the one waiting."""


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


def _version(found: SeriesWindows | None) -> object:
    return None if found is None else found.version


def _dead() -> object:
    return _dead  # never identical to a real value


_last_lags: tuple[object, tuple[float, ...]] = (None, ())


def lag_groups(data: CollectorInput) -> tuple[float, ...]:
    """The distinct replay lags of the section's series (a handful: one per interval).

    Worked out once per plan: ``data.timing`` is the same mapping until the plan changes.
    """
    global _last_lags
    timing, lags = _last_lags
    if timing is not data.timing:
        lags = tuple({one.lag_s for one in data.timing.values()})
        _last_lags = (data.timing, lags)
    return tuple(sorted({*lags, *(state.lag_s for state in data.budgets.values())}))


def section_key(data: CollectorInput) -> tuple[object, ...]:
    """What the real-time section reads besides the series and their windows: in
    replay, the window each lag group shows now."""
    targets: tuple[tuple[float, int], ...] = ()
    if data.mode is Mode.REPLAY:
        targets = tuple((lag, replay_window(data.now, lag)) for lag in lag_groups(data))
    return (data.mode, data.timestamps, targets)


def next_boundary(data: CollectorInput) -> float | None:
    """The next instant the section changes by itself: a replay window moving on (None: never)."""
    if data.mode is not Mode.REPLAY:
        return None
    lags = lag_groups(data)
    if not lags:
        return None
    return min(floor_window(data.now - lag) + WINDOW_S + lag for lag in lags)


@dataclass
class _Block:
    """Consecutive series of the plan, and what their windows were when last rendered."""

    series: Sequence[Series]
    keys: list[str]
    seen: list[object] = field(default_factory=list)
    """Each series' ``version`` when rendered (a token: it keeps no windows alive)."""

    def changed(self, data: CollectorInput) -> bool:
        get = data.windows.get
        return any(
            seen is not _version(get(key)) for seen, key in zip(self.seen, self.keys, strict=True)
        )

    def render(self, fmt: Format, data: CollectorInput, names: Sequence[str]) -> list[bytes]:
        """The block's sample lines, one piece per real-time family (``names``, in order)."""
        self.seen = [_version(data.windows.get(key)) for key in self.keys]
        return fmt.lines(realtime_lines(replace(data, series=self.series)), names)


class RealtimeSection:
    """The real-time section of one format, kept up to date by :meth:`update`."""

    def __init__(self) -> None:
        self._series: Sequence[Series] | None = None
        self._timing: object = None
        self._section: tuple[object, ...] = ()
        self._windows: Ref = _dead
        self._blocks: list[_Block] = []
        self._names: list[str] = []  # the families, in order
        self._block_of: dict[str, int] = {}  # each series' block, by key
        self._position: Position | None = None  # the snapshot shown, in its store's changes
        self._parts: list[Part] = []  # per family: its header, then one part per block
        self._chunk_of: list[int] = []
        self.chunks: list[Chunk] = []
        self.version = 0
        """Bumped whenever a chunk changed."""
        self._crc: tuple[int, tuple[int, int]] = (-1, (0, 0))

    def serves(self, data: CollectorInput) -> bool:
        """Whether this section is for ``data``'s series and replay window (maybe older windows)."""
        return (
            self._series is data.series
            and self._timing is data.timing
            and self._section == section_key(data)
        )

    def update(self, fmt: Format, data: CollectorInput, *, between: Pause = _go_on) -> int:
        """Bring the section up to ``data``; returns how many blocks had to be rendered.

        ``between`` runs after each block a rebuild renders: rendering ahead of a
        replay window gives the scrapes the GIL there (:data:`AHEAD_PAUSE_S`).
        """
        if not self.serves(data):
            self._rebuild(fmt, data, between)
            return len(self._blocks)
        if self._windows() is data.windows:
            return 0
        stale = self._stale(data)
        dirty: set[int] = set()
        stride = len(self._blocks) + 1
        for index in stale:
            for family, piece in enumerate(self._blocks[index].render(fmt, data, self._names)):
                at = family * stride + 1 + index
                if piece != self._parts[at]:
                    self._parts[at] = piece
                    dirty.add(self._chunk_of[at])
        for index in sorted(dirty):
            self._join(self.chunks[index])
        self._caught_up(data)
        self.version += bool(dirty)
        return len(stale)

    def _stale(self, data: CollectorInput) -> list[int]:
        """The blocks with a series changed since last shown: among those of the series the
        store says changed since then, or (where it cannot say) among them all."""
        keys = None
        if isinstance(data.windows, StoreSnapshot) and self._position is not None:
            keys = data.windows.changed_since(self._position)
        candidates: Iterable[int] = range(len(self._blocks))
        if keys is not None:
            candidates = sorted({self._block_of[key] for key in keys if key in self._block_of})
        return [index for index in candidates if self._blocks[index].changed(data)]

    def _caught_up(self, data: CollectorInput) -> None:
        """Remember the snapshot shown (weakly), and where it is in its store's changes."""
        self._windows = _ref(data.windows)
        windows = data.windows
        self._position = windows.position if isinstance(windows, StoreSnapshot) else None

    def _rebuild(self, fmt: Format, data: CollectorInput, between: Pause) -> None:
        """Render every block, closing each family's chunks as they fill.

        A block's samples are copied into a chunk (and dropped) as soon as its
        family has CHUNK_BYTES waiting: the section is never held twice over.
        """
        series = list(data.series)
        starts = range(0, len(series), BLOCK_SERIES)
        self._blocks = [
            _Block(chunk, [one.key for one in chunk])
            for chunk in (series[at : at + BLOCK_SERIES] for at in starts)
        ]
        empty = list(realtime_families(replace(data, series=())))
        headers, self._names = [fmt.header(one) for one in empty], [one.name for one in empty]
        stride = len(self._blocks) + 1
        self._parts = [b""] * (len(headers) * stride)
        opened = [family * stride for family in range(len(headers))]  # first part not in a chunk
        waiting = [len(header) for header in headers]
        closed: list[list[Chunk]] = [[] for _ in headers]
        for family, header in enumerate(headers):
            self._parts[family * stride] = header
        for index, block in enumerate(self._blocks):
            pieces = block.render(fmt, data, self._names)
            between()
            if len(pieces) != len(headers):
                raise AssertionError("the real-time section must yield the same families")
            for family, piece in enumerate(pieces):
                at = family * stride + 1 + index
                self._parts[at], waiting[family] = piece, waiting[family] + len(piece)
                if waiting[family] >= CHUNK_BYTES:
                    closed[family].append(self._join(Chunk(start=opened[family], stop=at + 1)))
                    opened[family], waiting[family] = at + 1, 0
        for family, start in enumerate(opened):
            if start < (family + 1) * stride:
                closed[family].append(self._join(Chunk(start=start, stop=(family + 1) * stride)))
        self.chunks = []
        for chunk in (chunk for chunks in closed for chunk in chunks):
            if self.chunks and len(self.chunks[-1].data) + len(chunk.data) <= CHUNK_BYTES:
                # small families share a chunk: a scrape writes (and waits for the GIL) less
                chunk = self._join(Chunk(start=self.chunks.pop().start, stop=chunk.stop))
            self.chunks.append(chunk)
        self._chunk_of = [0] * len(self._parts)
        for index, chunk in enumerate(self.chunks):
            self._chunk_of[chunk.start : chunk.stop] = [index] * (chunk.stop - chunk.start)
        self._series, self._timing = data.series, data.timing
        self._section = section_key(data)
        blocks = enumerate(self._blocks)
        self._block_of = {key: index for index, block in blocks for key in block.keys}
        self._caught_up(data)
        self.version += 1

    def _join(self, chunk: Chunk) -> Chunk:
        """Join the chunk's parts; they then point into it rather than hold copies."""
        chunk.fill(b"".join(self._parts[chunk.start : chunk.stop]))
        view, offset = memoryview(chunk.data), 0
        for at in range(chunk.start, chunk.stop):
            size = len(self._parts[at])
            if size:  # most blocks have no samples in most families: those stay b""
                self._parts[at] = view[offset : offset + size]
                offset += size
        return chunk

    def crc(self) -> tuple[int, int]:
        """CRC-32 and length of the whole section (for the gzip trailer), once per version."""
        if self._crc[0] != self.version:
            self._crc = (self.version, crc_of(self.chunks))
        return self._crc[1]
