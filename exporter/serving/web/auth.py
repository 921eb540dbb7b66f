"""Request checks of the web config: bcrypt basic auth and a token-bucket rate limit.

Checking a bcrypt hash of cost 10 takes ~70 ms of CPU, so results are kept in
a small cache keyed by a SHA-256 of (user, hash, password): Prometheus sends
the same credentials every scrape. An unknown user is checked against a dummy
hash so that the answer takes as long as for a known one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

import bcrypt

CACHE_SIZE = 256
BCRYPT_MAX_BYTES = 72
# A bcrypt hash (cost 10) of a random password nobody knows.
_DUMMY_HASH = b"$2b$10$r9igoygIZTKMDDRSy7mMnO6Ii9a6gbhUtdVbliHCy0n0llIRKGdvC"
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


class BasicAuth:
    """``Authorization: Basic ...`` against bcrypt hashes; thread-safe."""

    def __init__(self, users: Mapping[str, bytes]) -> None:
        self._users = dict(users)
        self._lock = threading.Lock()
        self._cache: OrderedDict[bytes, bool] = OrderedDict()

    def __len__(self) -> int:
        return len(self._users)

    def __repr__(self) -> str:
        return f"BasicAuth({len(self._users)} users)"

    def check(self, header: str | None) -> bool:
        """True when the header names a user whose password matches."""
        credentials = _credentials(header)
        if credentials is None:
            return False
        user, password = credentials
        hashed = self._users.get(user)
        known = hashed is not None
        hashed = hashed if hashed is not None else _DUMMY_HASH
        key = hashlib.sha256(b"\0".join((user.encode(), hashed, password))).digest()
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached and known
        matched = len(password) <= BCRYPT_MAX_BYTES and _checkpw(password, hashed)
        with self._lock:
            self._cache[key] = matched
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return matched and known


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
