"""A product type without any user (``idle_product_types``), as the real-time API serves it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from exporter.agora.limits import Endpoint
from exporter.simulator import Simulator
from exporter.simulator.cli import main
from exporter.simulator.realtime import QUALITY_METRICS
from tests.conftest import APPID, MakeSimulator, client_for
from tests.fakes import FakeClock

USAGE = Endpoint.REALTIME_USAGE.value
QUALITY = Endpoint.REALTIME_QUALITY.value


def ask(client: httpx.Client, now: float, path: str, **params: Any) -> list[dict[str, Any]]:
    """The ``data`` of one answer over the last half hour."""
    query = {"startTs": int(now) - 1800, "endTs": int(now) - 60, "appid": APPID} | params
    body = client.get(path, params=query).json()
    assert body["code"] == 200, body
    data: list[dict[str, Any]] = body["data"]
    return data


def test_an_idle_product_type_counts_0_users_and_has_no_quality_data(
    make_simulator: MakeSimulator, fake_clock: FakeClock
) -> None:
    simulator = make_simulator(idle_product_types=["WebRTC"])
    now = fake_clock()
    with client_for(simulator) as client:
        for metric in ("userCount", "channelCount"):
            rows = ask(client, now, USAGE, productType="WebRTC", metric=metric)
            assert len(rows) == 87  # every window of the frame, each 0
            assert {row[metric] for row in rows} == {0}
        for metric in QUALITY_METRICS:
            assert ask(client, now, QUALITY, productType="WebRTC", metric=metric) == []
        lobby = {"productType": "WebRTC", "cname": "lobby"}
        assert ask(client, now, USAGE, metric="userCount", **lobby) == []
        assert ask(client, now, QUALITY, metric="videoFreezeRate", uids="1,2", **lobby) == []
    assert simulator.traffic.realtime(APPID, "WebRTC", "videoFreezeRate", int(now) - 600) is None


def test_the_other_product_type_answers_as_without_an_idle_one(
    make_simulator: MakeSimulator, fake_clock: FakeClock
) -> None:
    now = fake_clock()
    answers = []
    for options in ({}, {"idle_product_types": ["WebRTC"]}):
        with client_for(make_simulator(**options)) as client:
            native: dict[str, Any] = {"productType": "Native"}
            answers.append(
                [
                    ask(client, now, USAGE, metric="userCount", **native),
                    ask(client, now, USAGE, metric="userCount", cname="lobby", **native),
                    *(ask(client, now, QUALITY, metric=m, **native) for m in QUALITY_METRICS),
                ]
            )
    assert answers[0] == answers[1]
    assert all(answers[0])


def test_an_unknown_idle_product_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown product types \\['Flutter'\\]"):
        Simulator(idle_product_types=["Flutter"])


def test_the_command_line_refuses_an_unknown_idle_product_type(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--port=0", "--idle-product-type=Flutter"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
