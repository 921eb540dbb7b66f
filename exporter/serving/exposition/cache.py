""":class:`Exposition`: what a scrape of /metrics gets, from sections kept per format."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from prometheus_client.exposition import choose_encoder, gzip_accepted
from prometheus_client.metrics_core import Metric

from exporter.serving.collector import SECTIONS, CollectorInput, calls_families, realtime_families
from exporter.serving.exposition.encoding import Chunk, Format, Piece, gzip_member
from exporter.serving.exposition.realtime import RealtimeSection, next_boundary

log = logging.getLogger(__name__)

MAX_FORMATS = 2
"""Formats kept at once (Prometheus asks for OpenMetrics, curl and wrk for text)."""
LEAD_S = 5.0
"""How long before a replay window moves on its section is rendered (0.17-0.20 s of CPU a
format at 22,010 series, more while scrapes and polls share the CPUs)."""
RECENT_S = 60.0
"""Only formats scraped this recently are rendered ahead: an idle exporter renders nothing."""
REFRESH_S = 0.25
"""Once rendered ahead, the section takes in the commits since every REFRESH_S until
the window moves on: the first scrape after it renders the last quarter second's
commits, not the 5 s of them (at 10 commits a second, 50 blocks: 150 ms)."""
REFRESH_GUARD_S = 0.1
"""No refresh starts this close to the boundary: a scrape crossing it while a
refresh holds the section would render every block itself."""
IDLE_WAIT_S = 20.0
AHEAD_PAUSE_S = 0.001
"""Rendering ahead sleeps this long after each block (of 16 series): 0.25 s more at
22,010 series, during which the scrapes that wait for the GIL take it, instead of
waiting behind a render of half a second of CPU."""
Source = Callable[[], CollectorInput]


def pause_ahead() -> None:
    """What rendering ahead does between two blocks: sleep AHEAD_PAUSE_S."""
    time.sleep(AHEAD_PAUSE_S)


@dataclass
class _Cached:
    """Everything kept for one format."""

    fmt: Format
    realtime: RealtimeSection = field(default_factory=RealtimeSection)
    ahead: RealtimeSection | None = None
    """Rendered ahead for the next replay window; becomes ``realtime`` once that window shows."""
    calls_key: object = None
    calls: Chunk = field(default_factory=Chunk)
    small: dict[object, tuple[list[Metric], bytes]] = field(default_factory=dict)
    """The other sections' last families and bytes."""
    scraped_at: float = 0.0


class Exposition:
    """/metrics for the app: ``payload(accept, accept_encoding)`` -> (body parts, headers).

    ``source`` is read once per scrape; its window source must be the store's
    snapshot (immutable per-series values, replaced, never changed, on commit).
    ``start()`` runs a thread that renders each replay window's section shortly
    before it shows, so no scrape waits for it; ``stop()`` ends it.
    """

    def __init__(
        self,
        source: Source,
        *,
        lead_s: float = LEAD_S,
        between_blocks: Callable[[], None] = pause_ahead,
    ) -> None:
        self._source = source
        self._lead_s = lead_s
        self._between_blocks = between_blocks
        self._lock = threading.Lock()
        self._formats: OrderedDict[str, _Cached] = OrderedDict()
        self._tickets = itertools.count()  # next() is atomic: it orders arrivals and reads
        self._answers: dict[tuple[str, bool], tuple[int, list[bytes], dict[str, str]]] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.blocks_rendered = 0
        """Real-time blocks rendered so far, ahead or by scrapes (tests and benchmarks read it)."""
        self.last_arrival = -1
        """The ticket of the latest scrape to arrive (tests wait on it)."""
        self.answers_shared = 0
        """Scrapes answered with another one's read of the state."""

    def payload(self, accept: str, accept_encoding: str) -> tuple[list[bytes], dict[str, str]]:
        """The exposition in the format the scraper asked for, gzipped if accepted.

        The body is a list of parts to send one after the other. A scrape that
        waited while another one read the state *after* it arrived gets that
        one's answer: the state of an instant during its own request, at no cost.
        """
        arrived = self.last_arrival = next(self._tickets)
        encoder, content_type = choose_encoder(accept)
        key = (content_type, gzip_accepted(accept_encoding))
        with self._lock:
            found = self._answers.get(key)
            if found is not None and found[0] > arrived:
                self.answers_shared += 1
                return found[1], dict(found[2])
            started = next(self._tickets)
            cached = self._formats.get(content_type)
            if cached is None:
                cached = self._formats[content_type] = _Cached(Format(encoder, content_type))
                while len(self._formats) > MAX_FORMATS:
                    self._formats.popitem(last=False)
            self._formats.move_to_end(content_type)
            rest = self._render(cached, self._source())
            chunks = cached.realtime.chunks
            headers = {"Content-Type": content_type}
            if key[1]:
                headers["Content-Encoding"] = "gzip"
                # a twentieth of the size, sent in one write: each write must win the GIL back
                parts = [gzip_member(chunks, cached.realtime.crc(), rest)]
            else:
                plain = [piece.data if isinstance(piece, Chunk) else piece for piece in rest]
                parts = [*(chunk.data for chunk in chunks), b"".join(plain)]
            self._answers = {
                one: answer for one, answer in self._answers.items() if one[0] in self._formats
            }
            self._answers[key] = (started, parts, headers)
            return parts, dict(headers)

    def _render(self, cached: _Cached, data: CollectorInput) -> list[Piece]:
        """Bring the real-time section up to ``data``; return every later section's bytes."""
        fmt, rest = cached.fmt, list[Piece]()
        cached.scraped_at = data.now
        for section in SECTIONS:
            if section is realtime_families:
                if rest:
                    raise AssertionError("the real-time section must come first")
                ahead = cached.ahead
                if ahead is not None and ahead.serves(data) and not cached.realtime.serves(data):
                    cached.realtime, cached.ahead = ahead, None
                self.blocks_rendered += cached.realtime.update(fmt, data)
            elif section is calls_families:
                if cached.calls_key != data.calls:
                    cached.calls_key = data.calls
                    cached.calls = Chunk(fmt.render(section(data)))
                rest.append(cached.calls)
            else:
                families = list(section(data))
                kept = cached.small.get(section)
                if kept is None or kept[0] != families:  # rendering costs 10x comparing
                    kept = cached.small[section] = (families, fmt.render(families))
                rest.append(kept[1])
        rest.append(fmt.tail)
        return rest

    # --- rendering ahead of the replay window ----------------------------------

    def prepare(self, data: CollectorInput, at: float) -> None:
        """Render the real-time section as a scrape at ``at`` will show it, scrapes going on.

        Only formats scraped in the last RECENT_S are rendered: in full the
        first time (or after a new plan), then only the blocks commits changed
        since. A section being rendered is taken out of the cache meanwhile, so
        no scrape ever sees one half done.
        """
        ahead = replace(data, now=at)
        with self._lock:
            recent = [
                (content_type, cached.fmt, cached.ahead)
                for content_type, cached in self._formats.items()
                if cached.scraped_at >= data.now - RECENT_S
            ]
            for content_type, _, _ in recent:
                self._formats[content_type].ahead = None
        for content_type, fmt, section in recent:
            if section is None or not section.serves(ahead):
                section = RealtimeSection()
            rendered = section.update(fmt, ahead, between=self._between_blocks)
            with self._lock:
                self.blocks_rendered += rendered
                cached = self._formats.get(content_type)
                if cached is not None and cached.ahead is None:
                    cached.ahead = section

    def run_ahead(self) -> None:
        """Until :meth:`stop`: render each replay window's section ``lead_s`` before it
        shows, then take in the commits every REFRESH_S until it does."""
        prepared: float | None = None
        while not self._stopping.is_set():
            data = self._source()
            at = next_boundary(data)
            if at is None:
                self._stopping.wait(IDLE_WAIT_S)
                continue
            left = at - data.now
            if left > self._lead_s:
                self._stopping.wait(left - self._lead_s)
                continue
            if at != prepared or left > REFRESH_GUARD_S:
                self.prepare(data, at)
                prepared = at
            self._stopping.wait(max(0.05, min(REFRESH_S, left)))

    def _run_ahead_logged(self) -> None:
        try:
            self.run_ahead()
        except Exception:  # scrapes render for themselves then; never take the app down
            log.exception("rendering /metrics ahead failed; scrapes render it themselves")

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._run_ahead_logged, name="metrics-ahead", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
