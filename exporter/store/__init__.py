"""SQLite state (WAL) under ``state_dir``: request ledger, cursors, fetched windows.

``Store`` is the only writer; the collector reads ``Store.snapshot()``, an
immutable in-memory view that costs no SQL.
"""

from exporter.store.data import SeriesData, StoreSnapshot, WindowRow, WindowValues
from exporter.store.schema import DB_NAME, StateDirError
from exporter.store.sqlite import Store
from exporter.store.startover import StartOver

__all__ = [
    "DB_NAME",
    "SeriesData",
    "StartOver",
    "StateDirError",
    "Store",
    "StoreSnapshot",
    "WindowRow",
    "WindowValues",
]
