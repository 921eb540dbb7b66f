"""Regenerate the README's metrics table from exporter/catalog/ (`make docs`)."""

from __future__ import annotations

import sys
from pathlib import Path

from exporter.catalog.table import metrics_table_markdown

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- metrics-table:start -->", "<!-- metrics-table:end -->"


def render(readme: str) -> str:
    if START not in readme or END not in readme.partition(START)[2]:
        raise ValueError(f"README.md must hold {START} followed by {END}")
    head, _, rest = readme.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{metrics_table_markdown()}{END}{tail}"


def main() -> int:
    text = README.read_text()
    updated = render(text)
    if updated != text:
        README.write_text(updated)
        print("README.md metrics table updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
