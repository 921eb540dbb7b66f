"""What the collector shows about the running exporter that takes I/O to know.

* The revision ``agora_exporter_build_info`` carries: read once, at import
  (:func:`read_revision`).
* The process section (process_* and python_info): read through /proc at most
  once a second of the scrape's clock (:class:`ProcessReader`); a
  ``CollectorInput`` carries its source, so tests inject a fixed one.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from prometheus_client import PlatformCollector, ProcessCollector
from prometheus_client.core import Metric

UNKNOWN_REVISION = "unknown"
SOURCE_ROOT = Path(__file__).resolve().parents[2]
"""Where the package is imported from: a git work tree when run from source."""
REVISION_FILE = Path(__file__).with_name("REVISION")
"""Written at build time, shipped in the wheel (``pyproject.toml``'s package data)."""
_COMMIT = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")  # SHA-1, or a SHA-256 repository's


def _commit(text: str | None) -> str | None:
    text = (text or "").strip().lower()
    return text if _COMMIT.fullmatch(text) else None


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _from_checkout(root: Path) -> str | None:
    """HEAD of the git work tree at ``root``, read from its files (git need not be installed).

    Only ``root`` itself is looked at, never its parents: a package installed in
    a virtualenv inside some repository must not report that repository's commit.
    """
    git = root / ".git"
    if git.is_file():  # a linked work tree or a submodule: "gitdir: <path>"
        pointer = (_read(git) or "").strip()
        if not pointer.startswith("gitdir:"):
            return None
        git = root / pointer.removeprefix("gitdir:").strip()
    head = (_read(git / "HEAD") or "").strip()
    if not head.startswith("ref:"):
        return _commit(head)  # detached
    ref = head.removeprefix("ref:").strip()
    common = git / (_read(git / "commondir") or ".").strip()  # a linked work tree's refs
    for where in (git, common):
        found = _read(where / ref)
        if found is not None:
            return _commit(found)
    for line in (_read(common / "packed-refs") or "").splitlines():
        commit, _, name = line.partition(" ")
        if name.strip() == ref:
            return _commit(commit)
    return None


def _from_pip() -> str | None:
    """The commit pip recorded installing from a VCS URL (``pip install git+https://...``)."""
    from importlib import metadata

    try:
        recorded = metadata.distribution("agora-exporter").read_text("direct_url.json")
        vcs = json.loads(recorded or "{}").get("vcs_info")
    except (metadata.PackageNotFoundError, ValueError, AttributeError):
        return None
    return _commit(str(vcs.get("commit_id"))) if isinstance(vcs, dict) else None


def read_revision(
    root: Path = SOURCE_ROOT, file: Path = REVISION_FILE, *, installed: bool = True
) -> str:
    """The git commit the package was built from, or ``"unknown"``; the first of:

    1. the HEAD of the git checkout the package is imported from (running from
       source, ``pip install -e .``);
    2. :data:`REVISION_FILE`, written before the package was built
       (``git rev-parse HEAD > exporter/serving/REVISION``, then ``pip install .``
       or ``pip wheel .``);
    3. the commit pip recorded when it installed from a VCS URL (when ``installed``).
    """
    found = _from_checkout(root) or _commit(_read(file))
    if found is None and installed:
        found = _from_pip()
    return found or UNKNOWN_REVISION


REVISION = read_revision()
"""The ``revision`` label of ``agora_exporter_build_info``."""


class ProcessSource(Protocol):
    """Where the process section comes from: the families to show at ``now``."""

    def families(self, now: float) -> Sequence[Metric]: ...


class ProcessReader:
    """process_* (prometheus_client's ProcessCollector over ``proc``) and python_info.

    ProcessCollector yields nothing where there is no /proc. It reads again only
    when ``now`` is in another second than its last read: memory and CPU are
    never more than a second old, and every rendering at one instant (the cached
    /metrics, a reference render) shows the same reading.
    """

    def __init__(self, proc: str | Path = "/proc") -> None:
        self._proc = str(proc)
        self._lock = threading.Lock()
        self._process: ProcessCollector | None = None  # made at the first read: it reads /proc
        self._platform: tuple[Metric, ...] = ()
        self._last: tuple[int, tuple[Metric, ...]] | None = None

    def families(self, now: float) -> tuple[Metric, ...]:
        second = math.floor(now)
        with self._lock:
            if self._last is None or self._last[0] != second:
                if self._process is None:
                    self._process = ProcessCollector(proc=self._proc, registry=None)
                    self._platform = tuple(PlatformCollector(registry=None).collect())
                self._last = (second, (*self._process.collect(), *self._platform))
            return self._last[1]


@dataclass(frozen=True)
class FixedProcess:
    """A process section that is always the same families."""

    fixed: tuple[Metric, ...] = ()

    def families(self, now: float) -> tuple[Metric, ...]:
        return self.fixed


LIVE_PROCESS = ProcessReader()
"""This process: the default of every ``CollectorInput``."""
NO_PROCESS = FixedProcess()
"""No process section: the collector does no I/O at all."""
