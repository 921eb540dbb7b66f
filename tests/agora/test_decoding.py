"""Reading an answer within its budget: encodings, bombs, element floods.

First the reader itself (pure), then a hostile upstream on loopback HTTP: what
each hostile answer costs the client (one ``invalid_response``, its
connection, and memory measured with tracemalloc), and that the largest
legitimate answers of every endpoint still parse.
"""

from __future__ import annotations

import contextlib
import gc
import gzip
import itertools
import json
import threading
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from exporter.agora import (
    AgoraClient,
    AgoraError,
    InvalidResponseError,
    RealtimeResult,
    RequestRecord,
)
from exporter.agora.answer_sizes import AnswerSize
from exporter.agora.decoding import (
    STEP_BYTES,
    AnswerReader,
    AnswerRefusedError,
    ElementCounter,
    content_codings,
)

MIB = 1024 * 1024
SIZE = AnswerSize(max_bytes=100_000, max_elements=1_000)
BODY = json.dumps({"code": 200, "data": [{"ts": 1631837400 + 20 * i, "n": i} for i in range(50)]})


def deflated(data: bytes, wbits: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return packer.compress(data) + packer.flush()


def read(chunks: list[bytes], codings: list[str], size: AnswerSize = SIZE) -> bytes:
    reader = AnswerReader(size, codings)
    for chunk in chunks:
        reader.feed(chunk)
    return reader.finish()


def in_chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param([], [], id="no header is no encoding"),
        pytest.param(["identity"], [], id="identity is no encoding"),
        pytest.param(["gzip"], ["gzip"], id="one gzip layer"),
        pytest.param([" GZip "], ["gzip"], id="names are case-blind and trimmed"),
        pytest.param(["gzip, identity"], ["gzip"], id="identity beside gzip adds nothing"),
        pytest.param(["gzip, gzip"], ["gzip", "gzip"], id="two layers on one line"),
        pytest.param(["gzip", "deflate"], ["gzip", "deflate"], id="two layers on two lines"),
        pytest.param([" , "], [], id="blank entries are ignored"),
    ],
)
def test_content_codings_are_read_from_every_header_line(
    headers: list[str], expected: list[str]
) -> None:
    assert content_codings(headers) == expected


@pytest.mark.parametrize(
    ("wire", "codings"),
    [
        pytest.param(BODY.encode(), [], id="plain"),
        pytest.param(gzip.compress(BODY.encode()), ["gzip"], id="gzip"),
        pytest.param(gzip.compress(BODY.encode()), ["x-gzip"], id="x-gzip"),
        pytest.param(deflated(BODY.encode(), zlib.MAX_WBITS), ["deflate"], id="zlib deflate"),
        pytest.param(deflated(BODY.encode(), -zlib.MAX_WBITS), ["deflate"], id="raw deflate"),
        pytest.param(gzip.compress(BODY.encode()) + b"\0\0", ["gzip"], id="bytes after gzip"),
    ],
)
@pytest.mark.parametrize("chunk", [1, 7, 65536], ids=lambda n: f"{n}-byte chunks")
def test_one_layer_of_any_accepted_encoding_gives_back_the_body(
    wire: bytes, codings: list[str], chunk: int
) -> None:
    assert read(in_chunks(wire, chunk), codings) == BODY.encode()


@pytest.mark.parametrize(
    ("wire", "codings", "refusal"),
    [
        pytest.param(b"{}", ["gzip", "gzip"], "2 content-encodings", id="gzip twice"),
        pytest.param(b"{}", ["br"], "'br' is not supported", id="brotli"),
        pytest.param(b"{}", ["zstd"], "'zstd' is not supported", id="zstd"),
        pytest.param(b"{}", ["compress"], "'compress' is not supported", id="compress"),
        pytest.param(b"not gzip", ["gzip"], "not valid gzip", id="garbage as gzip"),
        pytest.param(b"\xff" * 64, ["deflate"], "not valid deflate", id="garbage as deflate"),
        pytest.param(
            gzip.compress(BODY.encode())[:-12], ["gzip"], "cut short", id="gzip cut short"
        ),
        pytest.param(b" " * 100_001, [], "larger than 100000 bytes", id="too many bytes"),
        pytest.param(
            b"[" + b"0," * 1000 + b"0]", [], "more than 1000 JSON elements", id="too many elements"
        ),
    ],
)
def test_answers_outside_the_budget_or_the_encodings_are_refused(
    wire: bytes, codings: list[str], refusal: str
) -> None:
    with pytest.raises(AnswerRefusedError, match=refusal):
        read(in_chunks(wire, 4096), codings)


def test_an_answer_of_exactly_the_budget_is_read() -> None:
    exact = AnswerSize(max_bytes=len(BODY), max_elements=ElementCounter().feed(BODY.encode()))
    assert read([BODY.encode()], [], exact) == BODY.encode()
    assert read([gzip.compress(BODY.encode())], ["gzip"], exact) == BODY.encode()


def test_a_bomb_is_refused_after_the_budget_not_after_inflating_its_chunk() -> None:
    bomb = deflated(b" " * (64 * MIB), zlib.MAX_WBITS | 16)  # 64 MiB in 64 KB
    reader = AnswerReader(AnswerSize(max_bytes=MIB, max_elements=1000), ["gzip"])
    tracemalloc.start()
    try:
        with pytest.raises(AnswerRefusedError, match="larger than"):
            reader.feed(bomb)  # the whole bomb as one chunk
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the budget, one step beyond it, zlib's window: not the 64 MiB the chunk inflates to
    assert peak < MIB + 4 * STEP_BYTES + 512 * 1024


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


def census(value: Any) -> tuple[int, int, int]:
    """(values, keys, empty containers) in a JSON value."""
    if isinstance(value, list):
        parts = [census(item) for item in value]
        return (
            1 + sum(p[0] for p in parts),
            sum(p[1] for p in parts),
            (not value) + sum(p[2] for p in parts),
        )
    if isinstance(value, dict):
        parts = [census(item) for item in value.values()]
        values = 1 + sum(p[0] for p in parts)
        return (
            values,
            len(value) + sum(p[1] for p in parts),
            (not value) + sum(p[2] for p in parts),
        )
    return (1, 0, 0)


@settings(max_examples=300, deadline=None)
@given(value=JSON_VALUES, cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=8))
def test_elements_are_counted_outside_strings_however_the_answer_is_cut(
    value: Any, cuts: list[int]
) -> None:
    text = json.dumps(value, ensure_ascii=False).encode()
    points = sorted({0, len(text), *(cut % (len(text) + 1) for cut in cuts)})
    counter = ElementCounter()
    for start, end in itertools.pairwise(points):
        counter.feed(text[start:end])
    values, keys, empty = census(value)
    # every value and key but the outermost follows one separator; an empty [] or {} adds one
    assert counter.count == values - 1 + keys + empty


@pytest.mark.parametrize(
    ("text", "carried"),
    [
        pytest.param(b'"' + b'\\"' * 200_000, b'"', id="a string of escaped quotes"),
        pytest.param(b'"' + b"x" * 400_000 + b"\\", b'"\\', id="a string ending in an escape"),
        pytest.param(b'"' * 400_001, b'"', id="quotes only"),
        pytest.param(b"\\" * 400_001, b"", id="backslashes outside strings"),
    ],
)
def test_an_unfinished_string_is_carried_as_its_state_never_its_text(
    text: bytes, carried: bytes
) -> None:
    counter = ElementCounter()
    for chunk in in_chunks(text, 4096):
        counter.feed(chunk)
    assert counter.count == 0
    assert vars(counter)["_carry"] == carried


# -- a hostile upstream on loopback --------------------------------------------------


@dataclass
class Answer:
    """What the upstream sends to every request: raw bytes, as they go on the wire."""

    wire: bytes
    encodings: tuple[str, ...] = ()  # one Content-Encoding header line each


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    upstream: Upstream

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up on a hostile answer is the point, not an error


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # connections are kept between requests
    server: _Server

    def do_GET(self) -> None:
        upstream = self.server.upstream
        upstream.peers.append(self.client_address)
        answer = upstream.answer
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer.wire)))
        for encoding in answer.encodings:
            self.send_header("Content-Encoding", encoding)
        self.end_headers()
        try:
            self.wfile.write(answer.wire)
        except OSError:
            self.close_connection = True  # the client hung up: what it should do

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Upstream:
    """Answers every request with ``answer`` and notes which connection it came on."""

    def __init__(self) -> None:
        self.answer = Answer(json.dumps({"code": 200, "data": []}).encode())
        self.peers: list[tuple[str, int]] = []
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.upstream = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def connections(self) -> int:
        return len(set(self.peers))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.close()


@pytest.fixture
def records() -> list[RequestRecord]:
    return []


@pytest.fixture
def client(upstream: Upstream, records: list[RequestRecord]) -> Iterator[AgoraClient]:
    with AgoraClient(
        base_url=upstream.base_url,
        customer_id=SecretStr("hostile-test-id"),
        customer_secret=SecretStr("hostile-test-secret"),
        timeout_s=30.0,
        on_request=records.append,
    ) as agora:
        yield agora


def usage(client: AgoraClient) -> RealtimeResult:
    return client.realtime_usage(
        appid="app", product_type="Native", metric="userCount", start_ts=T0, end_ts=T0 + 3600
    )


def peak_bytes(action: Callable[[], object]) -> int:
    """The most memory Python held at once while ``action`` ran (every thread)."""
    gc.collect()
    tracemalloc.start()
    try:
        with contextlib.suppress(AgoraError):
            action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


T0 = 1_631_836_800
BOMB_BYTES = 256 * MIB  # the probe's was 1 GiB; 256 MiB inflates just as far past any budget


def spaces_in_data(size: int, wbits: int) -> bytes:
    """``{"data":[`` + ``size`` spaces + ``]}``, compressed, a MiB at a time."""
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    block = b" " * MIB
    parts = [packer.compress(b'{"data":[')]
    parts += [packer.compress(block) for _ in range(size // MIB)]
    return b"".join([*parts, packer.compress(b"]}"), packer.flush()])


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    return spaces_in_data(BOMB_BYTES, zlib.MAX_WBITS | 16)


def nested(inner: bytes) -> bytes:
    return deflated(inner, zlib.MAX_WBITS | 16)


def flood() -> bytes:
    """30 MB of empty objects, as probed."""
    return b'{"data":[' + b"{}," * 10_000_000 + b"{}]}"


CUT_SHORT = gzip.compress(json.dumps({"data": [{"ts": T0, "userCount": 3}]}).encode())[:-4]
HOSTILE: list[Any] = [
    pytest.param(
        lambda bomb: Answer(nested(bomb), ("gzip, gzip",)),
        "2 content-encodings",
        id="a gzip bomb in gzip, two layers on one line",
    ),
    pytest.param(
        lambda bomb: Answer(nested(bomb), ("gzip", "gzip")),
        "2 content-encodings",
        id="a gzip bomb in gzip, two layers on two lines",
    ),
    pytest.param(
        lambda bomb: Answer(nested(bomb), ("gzip",)),
        "not JSON",
        id="a gzip bomb in gzip that declares one layer",
    ),
    pytest.param(
        lambda bomb: Answer(bomb, ("gzip",)), "larger than 943104 bytes", id="a gzip bomb"
    ),
    pytest.param(
        lambda bomb: Answer(spaces_in_data(BOMB_BYTES, zlib.MAX_WBITS), ("deflate",)),
        "larger than 943104 bytes",
        id="a deflate bomb",
    ),
    pytest.param(
        lambda bomb: Answer(flood()), "more than 58176 JSON elements", id="30 MB of empty objects"
    ),
    pytest.param(
        lambda bomb: Answer(gzip.compress(flood(), 1), ("gzip",)),
        "more than 58176 JSON elements",
        id="30 MB of empty objects, gzipped",
    ),
    pytest.param(
        lambda bomb: Answer(b"[" * 1_000_000), "more than 58176 JSON elements", id="deep nesting"
    ),
    pytest.param(
        lambda bomb: Answer(bomb, ("br",)), "'br' is not supported", id="an unknown encoding"
    ),
    pytest.param(
        lambda bomb: Answer(CUT_SHORT, ("gzip",)), "cut short", id="gzip cut short, read to its end"
    ),
]


@pytest.mark.parametrize(("make", "refusal"), HOSTILE)
def test_a_hostile_answer_costs_one_invalid_response_little_memory_and_its_connection(
    upstream: Upstream,
    client: AgoraClient,
    records: list[RequestRecord],
    gzip_bomb: bytes,
    make: Callable[[bytes], Answer],
    refusal: str,
) -> None:
    usage(client)  # warm: a kept connection, every import done
    upstream.answer = make(gzip_bomb)
    refused: list[AgoraError] = []

    def hostile() -> None:
        try:
            usage(client)
        except AgoraError as exc:
            refused.append(exc)
            raise

    peak = peak_bytes(hostile)
    assert [type(exc) for exc in refused] == [InvalidResponseError]
    assert refusal in str(refused[0])
    assert [record.outcome for record in records[1:]] == ["invalid_response"]
    assert peak < 20 * MIB, f"{peak / MIB:.1f} MiB at the peak"
    upstream.answer = Answer(json.dumps({"data": [{"ts": T0, "userCount": 3}]}).encode())
    assert usage(client).rows[0].value == 3
    # the hostile answer's connection was closed; an answer that is merely not JSON keeps it
    assert upstream.connections() == (1 if refusal == "not JSON" else 2)


def test_answers_that_break_nothing_keep_their_connection(
    upstream: Upstream, client: AgoraClient
) -> None:
    for _ in range(3):
        usage(client)
    assert upstream.connections() == 1


# -- the largest legitimate answers ----------------------------------------------------

UIDS = [2303692334 + uid for uid in range(10)]
CNAME = "频道" * 32  # 64 characters, sent escaped: 384 bytes
WINDOWS = [T0 + 20 * step for step in range(181)]  # 60 minutes, both end windows
HOURS = [T0 + 3600 * hour for hour in range(721)]  # 30 days of hours, both ends
SAMPLES = [T0 + 2 * step for step in range(900)]  # half an hour of 2-s samples
PAGE = 100


def rate(index: int) -> float:
    return 1 / (index + 3)  # 17 significant digits as JSON


def realtime_body() -> dict[str, Any]:
    values = [{"ts": ts, "audioFreezeRate": rate(i)} for i, ts in enumerate(WINDOWS)]
    return {"code": 200, "message": "success", "data": [{"uid": u, "values": values} for u in UIDS]}


def insight_body() -> dict[str, Any]:
    points = [{"ts": ts, "userCount": 10_000_000 + i} for i, ts in enumerate(HOURS)]
    return {"code": 200, "message": "success", "data": points}


def page_head(total: int) -> dict[str, Any]:
    head = {"code": 200, "message": "", "requestId": "b" * 20, "total_size": total}
    return head | {"page_no": 1, "page_size": PAGE, "has_more": True}


def calls_body() -> dict[str, Any]:
    calls = [
        {
            "call_id": f"{i:032x}",
            "cname": CNAME,
            "created_ts": T0 + i,
            "destroyed_ts": T0 + 3600 + i,
            "finished": True,
        }
        for i in range(PAGE)
    ]
    return page_head(10_000) | {"call_lists": calls}


def sessions_body() -> dict[str, Any]:
    sessions = [
        {
            "sid": f"{i:032X}",
            "cname": CNAME,
            "uid": 4294967296 + i,
            "network": "Wi-Fi",
            "platform": "Android",
            "speaker": True,
            "sdk_version": "4.3.0.203_20240125_1651",
            "device_type": "Android (13) Samsung SM-S918B",
            "join_ts": T0 + i,
            "leave_ts": T0 + 3600 + i,
            "finished": True,
            "roles": ["broadcaster", "audience"],
        }
        for i in range(PAGE)
    ]
    return page_head(10_000) | {"call_info": sessions}


SIDS = [f"{i:032X}" for i in range(20)]


def metrics_body() -> dict[str, Any]:
    kvs = [[ts, 100 + i % 50] for i, ts in enumerate(SAMPLES)]
    series = [{"mid": 20001 + m, "kvs": kvs, "peer_uid": 0} for m in range(40)]
    return {"code": 200, "message": "", "metrics": [{"sid": s, "data": series} for s in SIDS]}


def count_realtime(c: AgoraClient) -> int:
    found = c.realtime_quality(
        appid="a", product_type="Native", metric="audioFreezeRate", cname="c", uids=UIDS,
        start_ts=T0, end_ts=T0 + 3620,
    )  # fmt: skip
    return len(found.rows)


LARGEST: list[Any] = [
    pytest.param(
        realtime_body, 4, count_realtime, len(UIDS) * len(WINDOWS), id="real-time, 10 uids"
    ),
    pytest.param(
        insight_body,
        4,
        lambda c: len(
            c.insight_usage(appid="a", metric="userCount", start_ts=T0, end_ts=T0).points
        ),
        len(HOURS),
        id="insight, 30 days of hours",
    ),
    pytest.param(
        calls_body,
        4,
        lambda c: len(c.call_lists(appid="a", start_ts=T0, end_ts=T0, page_size=PAGE).calls),
        PAGE,
        id="a page of 100 calls",
    ),
    pytest.param(
        sessions_body,
        4,
        lambda c: len(
            c.call_sessions(appid="a", call_id="c", start_ts=T0, end_ts=T0, page_size=PAGE).sessions
        ),
        PAGE,
        id="a page of 100 sessions",
    ),
    pytest.param(
        metrics_body,
        None,
        lambda c: len(c.call_metrics(appid="a", call_id="c", start_ts=T0, end_ts=T0, sids=SIDS)),
        len(SIDS) * 40,
        id="20 sessions x 40 metric IDs x 30 minutes",
    ),
]


@pytest.mark.parametrize(("body", "indent", "read", "expected"), LARGEST)
@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_the_largest_legitimate_answers_still_parse(
    upstream: Upstream,
    client: AgoraClient,
    records: list[RequestRecord],
    body: Callable[[], dict[str, Any]],
    indent: int | None,
    read: Callable[[AgoraClient], int],
    expected: int,
    encoding: str,
) -> None:
    text = json.dumps(body(), indent=indent).encode()
    wire = gzip.compress(text) if encoding == "gzip" else text
    upstream.answer = Answer(wire, (encoding,))
    assert read(client) == expected
    assert [record.outcome for record in records] == ["success"]
