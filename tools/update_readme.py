"""Regenerate the metrics tables from exporter/catalog/ (`make docs`): the API's metrics in
the README, every family in docs/metrics.md."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from exporter.catalog.table import api_metrics_markdown, metrics_table_markdown

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
METRICS_DOC = ROOT / "docs" / "metrics.md"
START, END = "<!-- metrics-table:start -->", "<!-- metrics-table:end -->"
TABLES: dict[Path, Callable[[], str]] = {
    README: api_metrics_markdown,
    METRICS_DOC: metrics_table_markdown,
}


def render(text: str, table: Callable[[], str] = api_metrics_markdown) -> str:
    """``text`` with the table between the markers regenerated."""
    if START not in text or END not in text.partition(START)[2]:
        raise ValueError(f"the file must hold {START} followed by {END}")
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{table()}{END}{tail}"


def main() -> int:
    for path, table in TABLES.items():
        text = path.read_text()
        updated = render(text, table)
        if updated != text:
            path.write_text(updated)
            print(f"{path.relative_to(ROOT)}: metrics table updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
