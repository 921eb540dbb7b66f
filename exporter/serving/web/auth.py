"""Request checks of the web config: bcrypt basic auth and a token-bucket rate limit.

Checking a bcrypt hash of cost 10 takes ~70 ms of CPU, so matches are kept in
a small cache keyed by a SHA-256 of (user, hash, password): Prometheus sends
the same credentials every scrape. Failures have a cache of their own, so a
flood of wrong passwords cannot push a scraper's match out. An unknown user is
checked against a dummy hash of the configured cost (the highest where users'
costs differ), so the answer takes as long as for a known one and timing does
not tell which user names exist.

Failed checks are rationed per source address (an IPv6 address by its /64):
``FAILURE_BURST`` at once, then one per ``FAILURE_INTERVAL_S``; beyond that a
source gets 429 without a bcrypt check, until its ration refills. Credentials
that matched before (the cache) pass even then, so a scraper sharing an
address with a guesser keeps scraping. At most ``BCRYPT_AT_ONCE`` checks run
at a time, so guesses from many addresses take one CPU at most; the web
config's ``rate_limit`` stays the outer bound on every request.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import ipaddress
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

import bcrypt

CACHE_SIZE = 256
BCRYPT_MAX_BYTES = 72
BCRYPT_AT_ONCE = 1
FAILURE_BURST = 10
FAILURE_INTERVAL_S = 1.0
TRACKED_SOURCES = 4096
"""Sources whose failures are remembered; the least recently failing one is forgotten first."""
_COST = re.compile(rb"\$2[abxy]?\$(\d\d)\$")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """A Go duration (``1s``, ``250ms``, ``1m30s``, ``0``) in seconds."""
    text = str(text).strip()
    if text in ("0", ""):
        return 0.0
    position, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position != len(text):
        raise ValueError(f"{text!r} is not a duration such as 1s, 250ms or 1m")
    return total


class Verdict(enum.Enum):
    ALLOWED = "allowed"
    DENIED = "denied"
    THROTTLED = "throttled"
    """Too many failures from this source lately: refused without a check."""


def bcrypt_cost(hashed: bytes) -> int:
    """The cost (log2 of the rounds) a bcrypt hash was made with; 10 if unreadable."""
    match = _COST.match(hashed)
    return int(match.group(1)) if match else 10


def dummy_hash(cost: int) -> bytes:
    """A hash of a random password nobody knows, at ``cost`` (bcrypt takes 4 to 31)."""
    rounds = min(31, max(4, cost))
    return bcrypt.hashpw(secrets.token_hex(16).encode(), bcrypt.gensalt(rounds=rounds))


def source_key(address: str) -> str:
    """Whose failures these are: the IPv4 address, or the /64 of an IPv6 one."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class FailureRation:
    """Per source: ``burst`` failed checks at once, then one per ``interval_s``."""

    def __init__(
        self,
        *,
        burst: int = FAILURE_BURST,
        interval_s: float = FAILURE_INTERVAL_S,
        capacity: int = TRACKED_SOURCES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._burst, self._interval_s, self._capacity = float(burst), interval_s, capacity
        self._monotonic = monotonic
        self._sources: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, source: str) -> bool:
        """Reserve one failure for ``source``; False when it has none left."""
        with self._lock:
            now = self._monotonic()
            tokens, updated = self._sources.pop(source, (self._burst, now))
            tokens = min(self._burst, tokens + (now - updated) / self._interval_s)
            allowed = tokens >= 1.0
            self._sources[source] = (tokens - 1.0 if allowed else tokens, now)
            while len(self._sources) > self._capacity:
                self._sources.popitem(last=False)
            return allowed

    def give_back(self, source: str) -> None:
        """The reserved check matched: it was no failure."""
        with self._lock:
            if source in self._sources:
                tokens, updated = self._sources[source]
                self._sources[source] = (min(self._burst, tokens + 1.0), updated)


class _Cache:
    """A small LRU set of SHA-256 keys; thread-safe."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._size = size
        self._keys: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, key: object) -> bool:
        with self._lock:
            if key not in self._keys:
                return False
            self._keys.move_to_end(key)  # type: ignore[arg-type]
            return True

    def add(self, key: bytes) -> None:
        with self._lock:
            self._keys[key] = None
            while len(self._keys) > self._size:
                self._keys.popitem(last=False)


class BasicAuth:
    """``Authorization: Basic ...`` against bcrypt hashes; thread-safe."""

    def __init__(
        self, users: Mapping[str, bytes], *, failures: FailureRation | None = None
    ) -> None:
        self._users = dict(users)
        self.dummy_cost = max((bcrypt_cost(hashed) for hashed in self._users.values()), default=10)
        self._dummy = dummy_hash(self.dummy_cost)
        self._matched, self._failed = _Cache(), _Cache()
        self._failures = failures or FailureRation()
        self._checking = threading.BoundedSemaphore(BCRYPT_AT_ONCE)

    def __len__(self) -> int:
        return len(self._users)

    def __repr__(self) -> str:
        return f"BasicAuth({len(self._users)} users)"

    def check(self, header: str | None) -> bool:
        """True when the header names a user whose password matches (no per-source ration)."""
        return self.verdict(header, None) is Verdict.ALLOWED

    def verdict(self, header: str | None, source: str | None) -> Verdict:
        """Whether ``source`` (a client address; None: not rationed) may pass."""
        credentials = _credentials(header)
        if credentials is None:
            return Verdict.DENIED
        user, password = credentials
        hashed = self._users.get(user)
        known = hashed is not None
        hashed = hashed if hashed is not None else self._dummy
        key = hashlib.sha256(b"\0".join((user.encode(), hashed, password))).digest()
        if key in self._matched:
            return Verdict.ALLOWED if known else Verdict.DENIED
        if key in self._failed:
            return Verdict.DENIED
        rationed = None if source is None else source_key(source)
        if rationed is not None and not self._failures.take(rationed):
            return Verdict.THROTTLED
        with self._checking:
            matched = len(password) <= BCRYPT_MAX_BYTES and _checkpw(password, hashed)
        (self._matched if matched else self._failed).add(key)
        if matched and known:
            if rationed is not None:
                self._failures.give_back(rationed)
            return Verdict.ALLOWED
        return Verdict.DENIED


def _checkpw(password: bytes, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(password, hashed)
    except ValueError:  # a hash bcrypt cannot read: no match
        return False


def _credentials(header: str | None) -> tuple[str, bytes] | None:
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(b":")
    if not sep:
        return None
    try:
        return user.decode(), password
    except UnicodeDecodeError:
        return None


class RateLimiter:
    """A token bucket: ``burst`` requests at once, then one per ``interval_s``."""

    def __init__(
        self,
        *,
        interval_s: float,
        burst: int,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval_s = interval_s
        self._burst = float(burst)
        self._tokens = float(burst)
        self._monotonic = monotonic
        self._updated = monotonic()
        self._lock = threading.Lock()

    def allow(self) -> bool:
        with self._lock:
            now = self._monotonic()
            refill = (now - self._updated) / self._interval_s
            self._tokens = min(self._burst, self._tokens + refill)
            self._updated = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False
