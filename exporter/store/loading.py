"""Reading fetched windows from SQLite into memory: at start, and when more are wanted.

The file keeps every window of the API's horizon; memory needs only those a
scrape can still show. :func:`read_windows` reads the table in one ordered
scan and keeps, per uid, the windows from ``oldest`` on and always the newest
one (the newest-window family and ``latest`` mode show it however old), so
an hour on disk never passes through memory whole.
"""

from __future__ import annotations

import itertools
import math
import operator
import sqlite3
from array import array
from collections.abc import Mapping, Sequence
from typing import cast

from exporter.store.data import SeriesData, WindowValues

NULL_UID = -1
"""How a window without a uid (project or channel scope) is stored: uid is part of the key."""
EVERYTHING = -(2**62)
"""An ``oldest`` before any window."""


def read_windows(
    conn: sqlite3.Connection, keys: Mapping[int, str], *, oldest: int = EVERYTHING
) -> dict[str, SeriesData]:
    """Each known series' windows from ``oldest`` on, plus each uid's newest.

    ``keys`` maps series ids to keys; rows of other ids (never written by this
    code) are skipped. Run it inside a transaction for a consistent read.
    """
    # Counting first lets the big scan fetch two columns, not four: ~25 % faster.
    groups = conn.execute(
        "SELECT series_id, uid, count(*), sum(ts >= ?) FROM windows GROUP BY 1, 2 ORDER BY 1, 2",
        (oldest,),
    ).fetchall()
    rows = conn.execute("SELECT ts, value FROM windows ORDER BY series_id, uid, ts")
    found: dict[str, SeriesData] = {}
    for series_id, uids in itertools.groupby(groups, key=operator.itemgetter(0)):
        values: dict[int | None, WindowValues] = {}
        for _, uid, count, recent in uids:
            kept = rows.fetchmany(count)[-max(1, int(recent)) :]
            ts, vals = zip(*kept, strict=True)
            values[None if uid == NULL_UID else uid] = WindowValues.from_sorted(
                array("q", ts), _doubles(vals)
            )
        key = keys.get(series_id)
        if key is not None:
            found[key] = SeriesData.of(values)
    return found


def _doubles(values: Sequence[float | None]) -> array[float]:
    """REAL column values as an array; NULL is how SQLite stores NaN."""
    try:
        return array("d", cast("Sequence[float]", values))
    except TypeError:
        return array("d", [math.nan if value is None else value for value in values])
