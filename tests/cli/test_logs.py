"""Structured log lines: fields from ``extra``, escaping, and the exporter's own calls.

The lines are read back with a strict logfmt reader written here (and with
``json.loads``), so a value that broke a line or forged a field would show.
"""

from __future__ import annotations

import ast
import io
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from exporter.agora import AgoraClient
from exporter.agora.limits import Budget, Plan, limits_for
from exporter.catalog.realtime import Scope
from exporter.cli.logs import logfmt_value, setup_logging
from exporter.quota.context import PollContext
from exporter.quota.error_rules import BACKOFF_S
from exporter.quota.request_stats import RuntimeStats
from exporter.quota.series_poller import PollStatus
from exporter.realtime.poller import Poller
from exporter.realtime.series import Series
from exporter.simulator import Fault, Simulator
from exporter.store import Store
from tests.configs import CUSTOMER_ID, SECRET, small_config
from tests.daemon_helpers import live_simulator, running_app, wait_until
from tests.fakes import FakeClock, FakeSleep

ROOT = Path(__file__).resolve().parents[2]
APPID = "0123456789abcdef0123456789abcdef"
USERS = Series(APPID, "Native", "userCount", Scope.PROJECT)
CUSTOMER = "logs-customer-4d2e"
RIGHT_SECRET = "logs-Secret-91b0c7"
T0 = 1_764_000_000.0
STANDARD = set(vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}

Line = dict[str, Any]


# --- a strict logfmt reader ---------------------------------------------------------

_BARE = re.compile(r'([A-Za-z0-9_.\-]+)=([^ "=\\]+)')
_QUOTED = re.compile(r'([A-Za-z0-9_.\-]+)="((?:[^"\\]|\\.)*)"')
_ESCAPE = re.compile(r'\\(?:x([0-9a-f]{2})|u([0-9a-f]{4})|U([0-9a-f]{8})|(["\\ntr]))')
_NAMED = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r"}


def _unescape(match: re.Match[str]) -> str:
    code = match.group(1) or match.group(2) or match.group(3)
    return chr(int(code, 16)) if code else _NAMED[match.group(4)]


def read_logfmt(line: str) -> Line:
    """``key=value`` pairs separated by one space; fails on anything else."""
    assert line.isprintable(), f"a control character in {line!r}"
    fields: Line = {}
    at = 0
    while at < len(line):
        if fields:
            assert line[at] == " ", f"no space before column {at} of {line!r}"
            at += 1
        quoted = _QUOTED.match(line, at)
        if quoted is not None:
            key = quoted.group(1)
            body = quoted.group(2)
            value = _ESCAPE.sub(_unescape, body)
            assert _ESCAPE.sub("", body).count("\\") == 0, f"an unknown escape in {body!r}"
            at = quoted.end()
        else:
            bare = _BARE.match(line, at)
            assert bare is not None, f"no field at column {at} of {line!r}"
            key, value = bare.group(1), bare.group(2)
            at = bare.end()
        assert key not in fields, f"{key} twice in {line!r}"
        fields[key] = value
    return fields


def read(text: str, fmt: str) -> list[Line]:
    lines = text.splitlines()
    assert text == "".join(line + "\n" for line in lines), "one event, one line"
    return [json.loads(line) if fmt == "json" else read_logfmt(line) for line in lines]


@pytest.fixture
def logs() -> Iterator[Any]:
    """``start(fmt)`` runs the real ``setup_logging`` into a buffer; undone after the test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    noisy = {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "apscheduler")}
    buffer = io.StringIO()

    def start(fmt: str, level: str = "debug") -> io.StringIO:
        setup_logging(level, fmt, stream=buffer)
        return buffer

    yield start
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, was in noisy.items():
        logging.getLogger(name).setLevel(was)


# --- the formatters -------------------------------------------------------------------


def test_extra_fields_follow_msg_as_key_value_pairs_in_logfmt(logs: Any) -> None:
    out = logs("logfmt")
    logging.getLogger("exporter.test").info(
        "insight pass starts",
        extra={"budget": "insight_quality", "kind": "pass", "requests": 20, "wait_s": 1.5},
    )
    logging.getLogger("exporter.test").warning(
        "typed values", extra={"done": True, "cname": None, "path": "/var/lib/agora exporter"}
    )
    text = out.getvalue()
    expected = 'msg="insight pass starts" budget=insight_quality kind=pass requests=20 wait_s=1.5\n'
    assert expected in text
    first, second = read(text, "logfmt")
    assert list(first) == ["ts", "level", "logger", "msg", "budget", "kind", "requests", "wait_s"]
    assert first["level"] == "info"
    assert first["logger"] == "exporter.test"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["ts"])
    assert second == {
        "ts": second["ts"],
        "level": "warning",
        "logger": "exporter.test",
        "msg": "typed values",
        "done": "true",
        "cname": "null",
        "path": "/var/lib/agora exporter",
    }


def test_extra_fields_are_keys_of_their_own_type_in_json(logs: Any) -> None:
    out = logs("json")
    logging.getLogger("exporter.test").info(
        "insight pass starts",
        extra={"budget": Budget.INSIGHT_QUALITY, "requests": 20, "wait_s": 1.5, "cname": None},
    )
    (line,) = read(out.getvalue(), "json")
    assert list(line) == ["ts", "level", "logger", "msg", "budget", "requests", "wait_s", "cname"]
    assert line["msg"] == "insight pass starts"
    assert line["budget"] == "insight_quality"
    assert (line["requests"], line["wait_s"], line["cname"]) == (20, 1.5, None)


@pytest.mark.parametrize("fmt", ["logfmt", "json"])
def test_an_error_field_and_a_traceback_share_error_the_last_field(logs: Any, fmt: str) -> None:
    out = logs(fmt)
    log = logging.getLogger("exporter.test")
    try:
        raise ValueError("the disk said no")
    except ValueError:
        log.exception("polling failed", extra={"series": "a/b", "error": "store error"})
    log.error("refused", extra={"error": "Agora realtime: unauthorized", "appid": APPID})
    traced, plain = read(out.getvalue(), fmt)
    assert list(traced) == ["ts", "level", "logger", "msg", "series", "error"]
    assert traced["error"].startswith("store error\nTraceback (most recent call last):")
    assert traced["error"].endswith("ValueError: the disk said no")
    assert list(plain) == ["ts", "level", "logger", "msg", "appid", "error"]
    assert plain["error"] == "Agora realtime: unauthorized"


@pytest.mark.parametrize("fmt", ["logfmt", "json"])
def test_keys_never_replace_the_fixed_fields_nor_break_the_syntax(logs: Any, fmt: str) -> None:
    out = logs(fmt)
    logging.getLogger("exporter.test").info(
        "odd keys", extra={"level": "error", "ts": "0", "bad key=x": 1, '"q"': 2}
    )
    (line,) = read(out.getvalue(), fmt)
    assert (line["level"], line["msg"]) == ("info", "odd keys")
    assert list(line)[4:] == ["extra_level", "extra_ts", "bad_key_x", "_q_"]


HOSTILE = {
    "newline": 'ok\nts=2020-01-01T00:00:00.000Z level=error msg="forged"',
    "escape": "\x1b[31mred\x1b[0m and a bell\x07",
    "quotes": 'say "hi" level=error',
    "backslash": 'C:\\dir\\" level=error',
    "carriage": "overwritten\rlevel=error",
    "tab": "a\tb",
    "unicode": "line\u2028separator, next\x85line, \u202eevil, café",
    "nul": "a\x00b\x7fc",
}


@pytest.mark.parametrize("fmt", ["logfmt", "json"])
def test_control_bytes_and_quotes_cannot_break_a_line_or_forge_a_field(logs: Any, fmt: str) -> None:
    out = logs(fmt)
    log = logging.getLogger("exporter.test")
    log.warning("hostile values", extra=HOSTILE)
    log.warning("a library's message: %s", "two\nlines\x1b[2K")
    text = out.getvalue()
    assert text.count("\n") == 2
    assert not any(c in text for c in "\r\x1b\x07\x00\x7f\x85\u2028\u202e")
    fields, library = read(text, fmt)
    assert list(fields) == ["ts", "level", "logger", "msg", *HOSTILE]
    assert fields["level"] == "warning"
    assert {key: fields[key] for key in HOSTILE} == HOSTILE, "every value reads back as it was"
    assert library["msg"] == "a library's message: two\nlines\x1b[2K"


def test_logfmt_escapes_as_documented() -> None:
    assert logfmt_value("plain") == "plain"
    assert logfmt_value("") == '""'
    assert logfmt_value('a "b"\\') == '"a \\"b\\"\\\\"'
    assert logfmt_value("a\nb\tc\rd") == '"a\\nb\\tc\\rd"'
    assert logfmt_value("\x1b[0m\x00\x7f\x9b") == '"\\x1b[0m\\x00\\x7f\\x9b"'
    assert logfmt_value("\u2028") == '"\\u2028"'
    assert logfmt_value(3) == "3"
    assert logfmt_value(0.25) == "0.25"
    assert logfmt_value(False) == "false"
    assert logfmt_value(None) == "null"


# --- the exporter's log calls ---------------------------------------------------------

_LEVELS = {"debug", "info", "warning", "error", "exception", "critical"}
_SNAKE = re.compile(r"[a-z][a-z0-9_]*")
_CREDENTIALS = re.compile(r"customer_id|customer_secret|secret|password|authorization", re.I)


def _log_calls() -> Iterator[tuple[str, ast.Call]]:
    for path in sorted((ROOT / "exporter").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in _LEVELS
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in ("log", "logger")
            ):
                yield f"{path.relative_to(ROOT)}:{node.lineno}", node


def test_every_log_call_has_a_constant_message_and_snake_case_fields_no_credentials() -> None:
    calls = list(_log_calls())
    assert len(calls) >= 30, "the walk finds the exporter's log calls"
    for where, call in calls:
        assert len(call.args) == 1, f"{where}: values go in extra, not in %-arguments"
        message = call.args[0]
        assert isinstance(message, ast.Constant), f"{where}: the message is a constant"
        assert isinstance(message.value, str)
        assert "%" not in message.value, where
        for keyword in call.keywords:
            assert keyword.arg in ("extra", "exc_info"), f"{where}: {keyword.arg}"
            if keyword.arg != "extra":
                continue
            assert isinstance(keyword.value, ast.Dict), f"{where}: extra is a dict literal"
            for key, value in zip(keyword.value.keys, keyword.value.values, strict=True):
                assert isinstance(key, ast.Constant), f"{where}: a constant key"
                assert isinstance(key.value, str)
                assert _SNAKE.fullmatch(key.value), f"{where}: {key.value} is not snake_case"
                assert key.value not in STANDARD, f"{where}: {key.value} is a LogRecord attribute"
                assert key.value not in ("ts", "level", "logger"), where
                assert not _CREDENTIALS.search(key.value), f"{where}: {key.value}"
                assert not _CREDENTIALS.search(ast.unparse(value)), f"{where}: {value}"


@dataclass
class Rig:
    poller: Poller
    sim: Simulator
    sleep: FakeSleep


@pytest.fixture
def rig(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Rig]:
    """A real-time poller against the simulator; ``secret`` from the test's parameter."""
    secret = getattr(request, "param", RIGHT_SECRET)
    clock = FakeClock(T0)
    sleep = FakeSleep(clock)
    limits = limits_for(Plan.ENTERPRISE, Budget.REALTIME)
    assert limits is not None
    with (
        Simulator(
            plan="enterprise",
            customer_id=CUSTOMER,
            customer_secret=RIGHT_SECRET,
            seed=5,
            clock=clock,
        ) as sim,
        Store(tmp_path / "state", clock=clock) as store,
        AgoraClient(
            base_url=sim.base_url,
            customer_id=SecretStr(CUSTOMER),
            customer_secret=SecretStr(secret),
            timeout_s=5,
        ) as client,
    ):
        poller = Poller(
            PollContext.build(
                client=client,
                store=store,
                limits={Budget.REALTIME: limits},
                stats=RuntimeStats(),
                clock=clock,
                sleep=sleep,
            )
        )
        yield Rig(poller, sim, sleep)


def _exporter_lines(text: str, fmt: str, *credentials: str) -> list[Line]:
    assert [one for one in credentials if one in text] == [], "no credential in the log"
    lines = [line for line in read(text, fmt) if line["logger"].startswith("exporter.")]
    assert all(APPID not in line["msg"] for line in lines), "no appid inside a message"
    return lines


@pytest.mark.parametrize("fmt", ["logfmt", "json"])
@pytest.mark.parametrize("rig", ["wrong-Secret-000"], indirect=True)
def test_a_refused_poll_logs_its_series_and_appid_as_fields(logs: Any, rig: Rig, fmt: str) -> None:
    out = logs(fmt)
    assert rig.poller.poll(USERS).status is PollStatus.FAILED
    lines = _exporter_lines(out.getvalue(), fmt, CUSTOMER, RIGHT_SECRET, "wrong-Secret-000")
    (refused,) = [line for line in lines if line["msg"].startswith("the API refused")]
    assert refused["msg"] == "the API refused the poll; pausing this app"
    assert refused["level"] == "error"
    assert refused["logger"] == "exporter.quota.series_poller"
    assert (refused["series"], refused["appid"]) == (USERS.key, APPID)
    assert refused["outcome"] == "unauthorized"
    assert "HTTP 401" in refused["error"]
    assert float(refused["pause_s"]) > 0


@pytest.mark.parametrize("fmt", ["logfmt", "json"])
def test_a_retry_after_a_server_error_logs_the_wait_as_a_field(
    logs: Any, rig: Rig, fmt: str
) -> None:
    out = logs(fmt)
    rig.sim.faults.inject(Fault.HTML_500, times=1)
    assert rig.poller.poll(USERS).status is PollStatus.FETCHED
    assert rig.sleep.waits == [BACKOFF_S[0]]
    lines = _exporter_lines(out.getvalue(), fmt, CUSTOMER, RIGHT_SECRET)
    (retry,) = [line for line in lines if line["logger"] == "exporter.quota.send"]
    assert retry["msg"] == "request failed; retrying after a pause"
    assert retry["request"] == USERS.describe()
    assert retry["endpoint"] == USERS.endpoint.label
    assert retry["outcome"] == "server_error"
    assert float(retry["retry_in_s"]) == BACKOFF_S[0]


def test_a_daemon_with_refused_credentials_logs_fields_a_log_query_can_filter(
    logs: Any, tmp_path: Path
) -> None:
    out = logs("logfmt", "info")
    config = small_config("", tmp_path)
    with live_simulator(customer_secret="the-right-one") as sim:
        config["agora"]["base_url"] = sim.base_url
        with running_app(config) as app:
            keys = {one.key for one in app.plan.series}
            port = app.port
            wait_until(
                lambda: "pausing this app" in out.getvalue(), timeout_s=30, what="the refusal"
            )
    lines = _exporter_lines(out.getvalue(), "logfmt", CUSTOMER_ID, SECRET, "the-right-one")
    serving = [line for line in lines if line["msg"] == "serving"]
    assert [(line["port"], line["plan"]) for line in serving] == [(str(port), "enterprise")]
    refused = [line for line in lines if line["msg"].startswith("the API refused")]
    assert refused
    assert all(line["series"] in keys and line["appid"] == APPID for line in refused)
    assert lines[-1]["msg"] == "stopped"
