"""Basic auth under attack: no user-name oracle by timing, and a flood of wrong
passwords rationed per source before bcrypt runs (issue 18, rows 9 and 10)."""

from __future__ import annotations

import base64
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import httpx
import pytest
import yaml

from exporter.serving.server import MetricsServer, Routes
from exporter.serving.web.auth import (
    FAILURE_BURST,
    FAILURE_INTERVAL_S,
    BasicAuth,
    FailureRation,
    Verdict,
    bcrypt_cost,
    source_key,
)
from exporter.serving.web.config import WebConfigWatcher
from tests.fakes import FakeClock
from tests.tls_certs import bcrypt_hash

PASSWORD = "Sesame-4c1e"
HASH = bcrypt_hash(PASSWORD).encode()


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The hash of every bcrypt check made."""
    hashes: list[bytes] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        hashes.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    return hashes


# --- row 9: the dummy hash ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("costs", "dummy"),
    [
        pytest.param({"prometheus": 4}, 4, id="one user of cost 4: the dummy costs 4"),
        pytest.param({"prometheus": 6}, 6, id="one user of cost 6: the dummy costs 6"),
        pytest.param({"a": 4, "b": 6, "c": 5}, 6, id="users of mixed costs: the highest"),
    ],
)
def test_an_unknown_user_is_checked_against_a_hash_of_the_configured_cost(
    checked: list[bytes], costs: dict[str, int], dummy: int
) -> None:
    users = {user: bcrypt_hash("secret", cost=cost).encode() for user, cost in costs.items()}
    auth = BasicAuth(users)
    assert auth.verdict(_basic("mallory", "guess"), None) is Verdict.DENIED
    assert len(checked) == 1, "an unknown user costs one bcrypt check, as a known one does"
    assert checked[0] not in users.values()
    assert bcrypt_cost(checked[0]) == dummy
    assert auth.dummy_cost == dummy


@pytest.mark.parametrize(
    ("hashed", "cost"),
    [(b"$2y$10$" + b"a" * 53, 10), (b"$2b$04$" + b"a" * 53, 4), (b"$2$12$" + b"a" * 53, 12)],
)
def test_the_cost_is_read_from_the_hash(hashed: bytes, cost: int) -> None:
    assert bcrypt_cost(hashed) == cost


# --- row 10: a flood of wrong passwords ----------------------------------------------------


def test_a_flood_of_wrong_passwords_from_one_source_is_rationed_before_bcrypt(
    checked: list[bytes],
) -> None:
    clock = FakeClock(0)
    auth = BasicAuth({"prometheus": HASH}, failures=FailureRation(monotonic=clock))
    assert auth.verdict(_basic("prometheus", PASSWORD), "10.0.0.9") is Verdict.ALLOWED
    flood = [auth.verdict(_basic("prometheus", f"guess-{n}"), "10.0.0.9") for n in range(40)]
    assert Counter(flood) == {Verdict.DENIED: FAILURE_BURST, Verdict.THROTTLED: 40 - FAILURE_BURST}
    assert flood[:FAILURE_BURST] == [Verdict.DENIED] * FAILURE_BURST
    assert len(checked) == 1 + FAILURE_BURST, "a throttled attempt costs no bcrypt check"
    known = auth.verdict(_basic("prometheus", PASSWORD), "10.0.0.9")
    assert known is Verdict.ALLOWED, "a scraper on the same address keeps scraping"
    other = auth.verdict(_basic("prometheus", "guess-x"), "10.0.0.10")
    assert other is Verdict.DENIED, "another source has its own ration"
    clock.advance(1.0)
    assert auth.verdict(_basic("prometheus", "guess-y"), "10.0.0.9") is Verdict.DENIED
    assert auth.verdict(_basic("prometheus", "guess-z"), "10.0.0.9") is Verdict.THROTTLED


def test_a_repeated_wrong_password_is_refused_from_the_cache_without_spending_the_ration(
    checked: list[bytes],
) -> None:
    auth = BasicAuth({"prometheus": HASH}, failures=FailureRation(monotonic=FakeClock(0)))
    verdicts = {auth.verdict(_basic("prometheus", "stale"), "10.0.0.9") for _ in range(30)}
    assert verdicts == {Verdict.DENIED}, "a misconfigured scraper gets 401, not 429"
    assert len(checked) == 1


def test_a_flood_of_failures_cannot_push_a_scrapers_match_out_of_the_cache(
    checked: list[bytes],
) -> None:
    auth = BasicAuth({"prometheus": HASH})
    assert auth.check(_basic("prometheus", PASSWORD))
    for n in range(300):  # more than the cache holds
        auth.check(_basic("prometheus", f"guess-{n}"))
    before = len(checked)
    assert auth.check(_basic("prometheus", PASSWORD))
    assert len(checked) == before


def test_the_ration_forgets_the_least_recent_source_beyond_its_capacity() -> None:
    ration = FailureRation(burst=1, interval_s=60, capacity=2, monotonic=FakeClock(0))
    assert [ration.take(source) for source in ("a", "b", "c")] == [True, True, True]
    assert not ration.take("c")
    assert ration.take("a"), "a was forgotten, so it starts afresh"


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("fe80::1%eth0", "fe80::/64"),
        ("not an address", "not an address"),
    ],
)
def test_failures_count_per_ipv4_address_and_per_ipv6_64(address: str, key: str) -> None:
    assert source_key(address) == key


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[MetricsServer]:
    web = tmp_path / "web.yml"
    web.write_text(yaml.safe_dump({"basic_auth_users": {"prometheus": HASH.decode()}}))
    routes = Routes(
        metrics=lambda accept, encoding: (b"up 1\n", {}),
        status_page=lambda: "",
        is_ready=lambda: True,
    )
    server = MetricsServer(routes, host="127.0.0.1", port=0, web=WebConfigWatcher(web))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_over_http_a_wrong_password_flood_gets_429_and_the_scraper_is_still_served(
    guarded: MetricsServer,
) -> None:
    url = f"http://127.0.0.1:{guarded.port}/metrics"
    with httpx.Client(timeout=10) as http:
        first = http.get(url, auth=("prometheus", PASSWORD)).status_code
        started = time.monotonic()
        flood = [http.get(url, auth=("prometheus", f"guess-{n}")) for n in range(25)]
        refilled = int((time.monotonic() - started) / FAILURE_INTERVAL_S)  # the ration's own
        scraper = http.get(url, auth=("prometheus", PASSWORD)).status_code
    codes = Counter(answer.status_code for answer in flood)
    assert first == 200
    assert [answer.status_code for answer in flood[:FAILURE_BURST]] == [401] * FAILURE_BURST
    assert codes[401] <= FAILURE_BURST + refilled
    assert codes[429] == 25 - codes[401]
    assert flood[-1].headers["Retry-After"] == "1"
    assert scraper == 200
