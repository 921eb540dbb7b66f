"""The cached exposition: the very bytes of an uncached render, never stale, rendered once.

Everything runs on a real store (SQLite in ``tmp_path``) and a fake clock, and
every answer is compared with prometheus_client rendering the collector afresh
at the same instant; the process section reads this process's /proc, unless a
test gives it a /proc of its own.
"""

from __future__ import annotations

import gzip
import threading
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from exporter.agora.limits import Budget, Plan, limits_for
from exporter.calls.view import EMPTY_CALLS, CallState
from exporter.catalog.own import PROCESS_METRICS
from exporter.catalog.realtime import Scope
from exporter.quota.request_stats import RuntimeStats
from exporter.realtime.series import Series
from exporter.realtime.view import Mode, SeriesTiming
from exporter.serving.collector import BudgetState, CollectorInput
from exporter.serving.exposition import Exposition
from exporter.serving.exposition import realtime as realtime_module
from exporter.serving.exposition.cache import RECENT_S
from exporter.serving.exposition.realtime import BLOCK_SERIES, next_boundary
from exporter.serving.runtime import LIVE_PROCESS, ProcessReader, ProcessSource
from exporter.store import Store
from exporter.store.calls import CallSample, CallSession, TrackedCall
from exporter.store.data import WindowRow
from tests.daemon_helpers import wait_until
from tests.fakes import FakeClock, render_afresh
from tests.serving.test_collector import RSS_BYTES, write_fake_proc

APPID = "0123456789abcdef0123456789abcdef"
T0 = 1_700_000_000
LAG = 440
TEXT = ""
OPENMETRICS = "application/openmetrics-text;version=1.0.0"
FORMATS = {
    "plain text": TEXT,
    "Prometheus 2's OpenMetrics": (
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
        "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
    ),
    "OpenMetrics with UTF-8 names": f"{OPENMETRICS};escaping=allow-utf-8",
    "versioned text with dots escaping": "text/plain;version=1.0.0;escaping=dots",
}
QUALITY = ["joinSuccessRate", "audioFreezeRate", "networkDelay"]


def _series() -> list[Series]:
    """Enough series for several blocks; names with quotes, backslashes and newlines."""
    found = [
        Series(APPID, pt, metric, Scope.PROJECT)
        for pt in ("Native", "WebRTC")
        for metric in ("userCount", *QUALITY)
    ]
    for index in range(60):
        cname = f"room-{index}" if index % 7 else f'ro"om\\{index}\n'
        found.append(Series(APPID, "Native", "userCount", Scope.CHANNEL, cname))
        for metric in QUALITY:
            found.append(Series(APPID, "Native", metric, Scope.CHANNEL, cname))
            found.append(
                Series(APPID, "Native", metric, Scope.USER, cname, (index, 4_000_000_000 + index))
            )
    return found


@dataclass
class Rig:
    """A store with an hour of windows, a fake clock and the collector's input over them."""

    store: Store
    clock: FakeClock
    series: list[Series]
    mode: Mode = Mode.REPLAY
    timestamps: bool = False
    calls: CallState = EMPTY_CALLS
    process: ProcessSource = LIVE_PROCESS
    timing: Mapping[str, SeriesTiming] = field(default_factory=dict)

    def source(self) -> CollectorInput:
        limits = limits_for(Plan.ENTERPRISE, Budget.REALTIME)
        assert limits is not None
        stats = RuntimeStats()
        stats.record_request(endpoint="realtime_quality", outcome="success", duration_s=0.3)
        stats.record_poll(series_key=self.series[0].key, appid=APPID, at=T0, outcome="success")
        snapshot = self.store.snapshot()
        return CollectorInput(
            now=self.clock(),
            series=self.series,
            budgets={Budget.REALTIME: BudgetState(limits, 400, LAG, {"minute": 2, "day": 57})},
            windows=snapshot,
            windows_missed_total=snapshot.windows_missed_total,
            stats=stats.snapshot(),
            mode=self.mode,
            timestamps=self.timestamps,
            calls=self.calls,
            process=self.process,
            timing=self.timing,
        )

    def commit(self, one: Series, start: int, count: int, value: float = 0.5) -> None:
        rows = [
            WindowRow(start + 20 * step, value + step / 1000, uid)
            for step in range(count)
            for uid in (one.uids or (None,))
        ]
        self.store.commit_poll(one.key, rows, cursor=start + 20 * count)


def _value(index: int, step: int) -> float:
    """Values of every shape the encoder writes: integers, fractions, huge, tiny, negative."""
    shapes = (float(step), 0.0123 * step, 1e308, 5e-324, -2.5 * index, 1234567.0)
    return shapes[(index + step) % len(shapes)]


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    clock = FakeClock(T0 + 3600)
    store = Store(tmp_path / "state", clock=clock)
    series = _series()
    for index, one in enumerate(series):
        if index % 11 == 5:
            continue  # never fetched
        rows = [
            WindowRow(T0 + 20 * step, _value(index, step), uid)
            for step in range(180)
            for uid in (one.uids or (None,))
            if not (uid is not None and uid > 4_000_000_000 and step % 5 == 0)  # absences
        ]
        store.commit_poll(one.key, rows, cursor=T0 + 3600)
    return Rig(store, clock, series)


def uncached(
    source: Callable[[], CollectorInput], accept: str, encoding: str = ""
) -> tuple[bytes, dict[str, str]]:
    return render_afresh(source, accept, encoding)


def cached(cache: Exposition, accept: str, encoding: str = "") -> tuple[bytes, dict[str, str]]:
    parts, headers = cache.payload(accept, encoding)
    return b"".join(parts), headers


def assert_same(cache: Exposition, rig: Rig, accept: str = TEXT) -> bytes:
    body, headers = cached(cache, accept)
    expected, expected_headers = uncached(rig.source, accept)
    assert headers == expected_headers
    assert body == expected  # compared whole: a diff of 400 KB helps nobody
    return body


@pytest.mark.parametrize("accept", FORMATS.values(), ids=FORMATS.keys())
@pytest.mark.parametrize("timestamps", [False, True], ids=["without timestamps", "with timestamps"])
@pytest.mark.parametrize("mode", list(Mode), ids=["in replay mode", "in latest mode"])
def test_the_cached_exposition_is_byte_for_byte_an_uncached_render(
    rig: Rig, accept: str, timestamps: bool, mode: Mode
) -> None:
    rig.mode, rig.timestamps = mode, timestamps
    cache = Exposition(rig.source)
    body = assert_same(cache, rig, accept)
    assert body.count(b'uid="') > 250  # every user series' uids, but the absences
    assert assert_same(cache, rig, accept) == body


@pytest.mark.parametrize("accept", [TEXT, OPENMETRICS], ids=["plain text", "OpenMetrics"])
def test_gzip_is_one_ordinary_gzip_member_of_the_same_bytes(rig: Rig, accept: str) -> None:
    cache = Exposition(rig.source)
    plain, _ = cached(cache, accept)
    for _ in range(2):  # compressed once, then from the chunks' cached streams
        zipped, headers = cached(cache, accept, "gzip, deflate")
        assert headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(zipped) == plain
        member = zlib.decompressobj(16 + zlib.MAX_WBITS)
        assert member.decompress(zipped) == plain
        assert member.eof
        assert not member.unused_data
    assert uncached(rig.source, accept, "gzip")[1] == headers


def test_a_commit_is_shown_by_the_next_scrape_and_renders_only_its_block(rig: Rig) -> None:
    cache = Exposition(rig.source)
    cached(cache, TEXT)
    rendered = cache.blocks_rendered
    user = next(one for one in rig.series if one.scope is Scope.USER)
    rig.commit(user, T0 + 3600 - LAG, 1, value=0.987654)  # the window replay shows now
    body = assert_same(cache, rig)
    assert cache.blocks_rendered == rendered + 1
    assert f'uid="{user.uids[0]}"}} 0.987654\n'.encode() in body


def test_after_a_commit_a_scrape_compares_only_the_blocks_the_store_says_changed(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = Exposition(rig.source)
    cached(cache, TEXT)
    compared: list[object] = []
    compare = realtime_module._Block.changed

    def counted(block: realtime_module._Block, data: CollectorInput) -> bool:
        compared.append(block)
        return compare(block, data)

    monkeypatch.setattr(realtime_module._Block, "changed", counted)
    rig.commit(rig.series[-1], T0 + 3600 - LAG, 1, value=0.3)
    assert b"} 0.3\n" in assert_same(cache, rig)
    assert len(compared) == 1


def test_memory_letting_go_of_windows_no_scrape_shows_renders_no_block_again(rig: Rig) -> None:
    cache = Exposition(rig.source)
    before = assert_same(cache, rig)
    rendered = cache.blocks_rendered
    rig.store.keep_in_memory(LAG + 40)
    rig.store.prune(rig.clock())  # every series is replaced by a shorter copy
    assert assert_same(cache, rig) == before
    assert cache.blocks_rendered == rendered


def test_a_commit_to_a_series_never_fetched_shows_it_at_once(rig: Rig) -> None:
    cache = Exposition(rig.source)
    assert_same(cache, rig)
    rig.commit(rig.series[5], T0 + 3000, 60)
    assert_same(cache, rig)


def test_the_replay_window_moving_on_renders_every_block_once(rig: Rig) -> None:
    cache = Exposition(rig.source)
    first = assert_same(cache, rig)
    blocks = cache.blocks_rendered
    rig.clock.advance(19)  # same window: only the small sections are rendered
    assert_same(cache, rig)
    assert cache.blocks_rendered == blocks
    rig.clock.advance(1)
    assert assert_same(cache, rig) != first
    assert cache.blocks_rendered == 2 * blocks


def test_latest_mode_does_not_render_again_as_time_passes(rig: Rig) -> None:
    rig.mode = Mode.LATEST
    cache = Exposition(rig.source)
    assert_same(cache, rig)
    blocks = cache.blocks_rendered
    rig.clock.advance(600)
    assert_same(cache, rig)
    assert cache.blocks_rendered == blocks


def test_a_new_plan_renders_from_scratch(rig: Rig) -> None:
    cache = Exposition(rig.source)
    assert_same(cache, rig)
    rig.series = rig.series[7:] + rig.series[:3]  # a reload: other series, other order
    assert_same(cache, rig)
    rig.timestamps = True  # ... or other exposition settings
    assert_same(cache, rig)
    # a re-plan for traffic: the same series, other intervals and lags
    rig.timing = {one.key: SeriesTiming(340, 380) for one in rig.series[:5]}
    assert_same(cache, rig)


def test_concurrent_scrapers_share_one_rendering(rig: Rig) -> None:
    cache = Exposition(rig.source)
    bodies: list[bytes] = []
    start = threading.Barrier(8)

    def scrape() -> None:
        start.wait()
        bodies.append(cached(cache, TEXT)[0])

    threads = [threading.Thread(target=scrape) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    blocks = -(-len(rig.series) // BLOCK_SERIES)
    assert cache.blocks_rendered == blocks
    assert set(bodies) == {uncached(rig.source, TEXT)[0]}


def _arrived(cache: Exposition, ticket: int) -> Callable[[], bool]:
    return lambda: cache.last_arrival == ticket


def test_scrapes_queued_behind_a_read_share_the_next_read_not_an_older_one(rig: Rig) -> None:
    reads: list[float] = []
    release = threading.Event()

    def slow_first_read() -> CollectorInput:
        data = rig.source()
        if not reads:
            release.wait(timeout=30)  # read before the commit, answered after it
        reads.append(data.now)
        return data

    cache = Exposition(slow_first_read)
    scrapers: list[threading.Thread] = []
    bodies: list[bytes] = []
    for arrival in (0, 2, 3):  # the first scrape takes two tickets: arriving and reading
        scrapers.append(threading.Thread(target=lambda: bodies.append(cached(cache, TEXT)[0])))
        scrapers[-1].start()
        wait_until(_arrived(cache, arrival), timeout_s=30, what="a scrape arriving")
    rig.commit(rig.series[-1], T0 + 3600 - LAG, 1, value=0.3)  # after the first read began
    release.set()
    for thread in scrapers:
        thread.join(timeout=30)
    assert (len(reads), cache.answers_shared) == (2, 1)
    assert bodies[1] == bodies[2]
    assert bodies[1] == uncached(rig.source, TEXT)[0]
    assert bodies[1] != bodies[0]
    assert b"} 0.3\n" in bodies[1]
    cached(cache, TEXT)
    assert len(reads) == 3  # a scrape arriving after every read reads for itself


def test_calls_are_rendered_again_only_when_the_call_state_changes(rig: Rig) -> None:
    call = TrackedCall(
        APPID,
        "call-1",
        "room-1",
        T0,
        sessions=(CallSession("s1", 7, T0), CallSession("s2", 8, T0)),
        samples=(
            CallSample("s1", 20001, 0, T0 + 10, 0.5),
            CallSample("s2", 99999, 7, T0 + 12, 3.0),
        ),
    )
    rig.calls = CallState(enabled=True, interval_s=60, calls=(call,), ongoing={APPID: 1})
    cache = Exposition(rig.source)
    assert b'cname="room-1"' in assert_same(cache, rig, OPENMETRICS)
    rig.calls = replace(rig.calls, skipped={"max_calls": 2})
    assert_same(cache, rig, OPENMETRICS)
    rig.calls = CallState()
    assert_same(cache, rig, OPENMETRICS)


def test_the_formats_asked_for_last_are_kept_and_others_rendered_again(rig: Rig) -> None:
    cache = Exposition(rig.source)
    for accept in [TEXT, OPENMETRICS, *FORMATS.values(), TEXT]:
        assert_same(cache, rig, accept)


def _boundary(rig: Rig) -> float:
    at = next_boundary(rig.source())
    assert at is not None
    return at


def test_rendered_ahead_the_next_replay_window_costs_its_first_scrape_nothing(rig: Rig) -> None:
    cache = Exposition(rig.source)
    for accept in (TEXT, OPENMETRICS):
        assert_same(cache, rig, accept)
    at = _boundary(rig)
    cache.prepare(rig.source(), at)
    rendered = cache.blocks_rendered
    rig.clock.set(at)
    for accept in (TEXT, OPENMETRICS):
        assert_same(cache, rig, accept)
    assert cache.blocks_rendered == rendered


def test_rendering_ahead_gives_way_after_every_block_and_a_scrape_never_does(rig: Rig) -> None:
    pauses: list[None] = []
    cache = Exposition(rig.source, between_blocks=lambda: pauses.append(None))
    assert_same(cache, rig)
    assert pauses == [], "a scrape renders for itself, waiting: it pauses for nobody"
    rendered = cache.blocks_rendered
    cache.prepare(rig.source(), _boundary(rig))
    blocks = -(-len(rig.series) // BLOCK_SERIES)
    assert cache.blocks_rendered - rendered == len(pauses) == blocks


def test_a_commit_after_rendering_ahead_costs_the_scrape_only_its_block(rig: Rig) -> None:
    cache = Exposition(rig.source)
    assert_same(cache, rig)
    at = _boundary(rig)
    cache.prepare(rig.source(), at)
    rendered = cache.blocks_rendered
    rig.commit(rig.series[-1], int(at) - LAG, 1, value=0.3)
    rig.clock.set(at)
    assert b"} 0.3\n" in assert_same(cache, rig)
    assert cache.blocks_rendered == rendered + 1


def test_rendering_ahead_again_takes_in_only_the_commits_since(rig: Rig) -> None:
    cache = Exposition(rig.source)
    assert_same(cache, rig)
    at = _boundary(rig)
    cache.prepare(rig.source(), at)
    rig.commit(rig.series[-1], int(at) - LAG, 1, value=0.3)
    rendered = cache.blocks_rendered
    cache.prepare(rig.source(), at)
    assert cache.blocks_rendered == rendered + 1, "only the committed series' block"
    rig.clock.set(at)
    assert b"} 0.3\n" in assert_same(cache, rig)
    assert cache.blocks_rendered == rendered + 1, "the scrape at the boundary renders nothing"


def test_a_new_plan_after_rendering_ahead_is_rendered_ahead_in_full(rig: Rig) -> None:
    cache = Exposition(rig.source)
    assert_same(cache, rig)
    at = _boundary(rig)
    cache.prepare(rig.source(), at)
    rig.series = rig.series[:-1]
    rendered = cache.blocks_rendered
    cache.prepare(rig.source(), at)
    assert cache.blocks_rendered - rendered == -(-len(rig.series) // BLOCK_SERIES)
    rig.clock.set(at)
    assert_same(cache, rig)


def test_the_thread_renders_ahead_takes_in_commits_until_the_window_moves_on_and_stops(
    rig: Rig,
) -> None:
    cache = Exposition(rig.source, lead_s=5)
    assert_same(cache, rig)
    full = cache.blocks_rendered
    rig.clock.set(_boundary(rig) - 3)
    cache.start()
    try:
        wait_until(lambda: cache.blocks_rendered == 2 * full, timeout_s=30, what="a render ahead")
        rig.commit(rig.series[0], int(rig.clock()) - LAG, 1, value=0.3)
        wait_until(lambda: cache.blocks_rendered == 2 * full + 1, timeout_s=30, what="a refresh")
    finally:
        cache.stop()
    rig.clock.advance(3)
    assert b"} 0.3\n" in assert_same(cache, rig)
    assert cache.blocks_rendered == 2 * full + 1


def test_a_format_nobody_scraped_lately_is_not_rendered_ahead(rig: Rig) -> None:
    cache = Exposition(rig.source)
    assert_same(cache, rig)
    rig.clock.advance(RECENT_S + 20)
    rendered = cache.blocks_rendered
    cache.prepare(rig.source(), _boundary(rig))
    assert cache.blocks_rendered == rendered


def test_rendering_ahead_in_latest_mode_is_never_needed(rig: Rig) -> None:
    rig.mode = Mode.LATEST
    assert next_boundary(rig.source()) is None


def test_the_process_section_is_served_as_an_uncached_render_serves_it(rig: Rig) -> None:
    cache = Exposition(rig.source)
    for accept in (TEXT, OPENMETRICS):
        body = assert_same(cache, rig, accept)
        for metric in PROCESS_METRICS:
            # OpenMetrics names a counter's family without its _total
            name = metric.name if accept == TEXT else metric.name.removesuffix("_total")
            assert f"\n# TYPE {name} {metric.kind}\n".encode() in body
        assert b"\nprocess_resident_memory_bytes " in body


def _sample(body: bytes, name: str) -> float:
    [line] = [one for one in body.decode().splitlines() if one.startswith(name + " ")]
    return float(line.split(" ")[1])


def test_the_process_section_is_read_again_every_second_and_only_then(
    rig: Rig, tmp_path: Path
) -> None:
    proc = write_fake_proc(tmp_path / "proc", open_fds=3)
    rig.process = ProcessReader(proc)
    cache = Exposition(rig.source)
    rig.clock.set(T0 + 3600.25)
    first = assert_same(cache, rig)
    assert _sample(first, "process_open_fds") == 3
    blocks = cache.blocks_rendered
    write_fake_proc(proc, open_fds=7, rss_bytes=3 * RSS_BYTES)
    rig.clock.advance(0.5)  # the same second: the same reading, cached or not
    assert assert_same(cache, rig) == first
    rig.clock.advance(0.5)
    later = assert_same(cache, rig)
    assert _sample(later, "process_open_fds") == 7
    assert _sample(later, "process_resident_memory_bytes") == 3 * RSS_BYTES
    assert cache.blocks_rendered == blocks  # the real-time section was not rendered again
    zipped, _ = cached(cache, TEXT, "gzip")
    assert gzip.decompress(zipped) == later
