"""Insight history fetched by ``backfill --fetch``: a JSON file beside the database.

The daemon's store keeps about a week of points per insight series; the API
keeps 14 or 30 days. ``backfill --fetch`` fetches the older days within what
the quota leaves, often over several runs, so what it fetched (and how far back
each series is covered) is kept here, in ``state_dir/insight-history.json``,
for the next run to continue from and for every later export. Only a backfill
holding the ``state_dir`` lock writes it, atomically (temporary file, fsync,
rename); anyone may read it.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exporter.store.schema import StateDirError, state_error

HISTORY_NAME = "insight-history.json"
VERSION = 1


@dataclass
class FetchedHistory:
    """Points fetched per insight series key, and the frame start each is covered back to."""

    back_to: dict[str, int] = field(default_factory=dict)
    points: dict[str, dict[int, float]] = field(default_factory=dict)

    def add(self, key: str, start: int, points: dict[int, float]) -> None:
        """Record a fetched frame starting at ``start`` (covering up to the previous one)."""
        self.points.setdefault(key, {}).update(points)
        self.back_to[key] = min(start, self.back_to.get(key, start))


def _parse(data: Any) -> FetchedHistory:
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise ValueError(f"not a version {VERSION} history file")
    history = FetchedHistory()
    for key, one in data["series"].items():
        history.back_to[str(key)] = int(one["back_to"])
        history.points[str(key)] = {int(ts): float(value) for ts, value in one["points"]}
    return history


def load_history(state_dir: Path) -> FetchedHistory:
    """The fetched history under ``state_dir`` (empty when there is none)."""
    path = Path(state_dir) / HISTORY_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return FetchedHistory()
    except OSError as error:
        raise state_error(path, "reading the fetched insight history", error, busy_s=0) from None
    try:
        return _parse(json.loads(text))
    except (ValueError, KeyError, TypeError) as error:
        raise StateDirError(
            f"{path}: the fetched insight history cannot be read ({error}); move it aside "
            "(backfill --fetch fetches it again)"
        ) from None


def save_history(state_dir: Path, history: FetchedHistory) -> None:
    """Replace the file atomically with ``history``."""
    path = Path(state_dir) / HISTORY_NAME
    series = {
        key: {
            "back_to": history.back_to[key],
            "points": sorted(history.points.get(key, {}).items()),
        }
        for key in sorted(history.back_to)
    }
    text = json.dumps({"version": VERSION, "series": series}, separators=(",", ":"))
    try:
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(text)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    except OSError as error:
        raise state_error(path, "saving the fetched insight history", error, busy_s=0) from None
