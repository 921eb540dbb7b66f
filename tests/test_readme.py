"""The README's metrics table is generated from the catalog; it must be current."""

from __future__ import annotations

from pathlib import Path

from tools.update_readme import README, render


def test_readme_metrics_table_matches_the_catalog() -> None:
    text = README.read_text()
    assert render(text) == text, "run `make docs` to regenerate the README's metrics table"


def test_readme_opens_with_the_demo_and_test_commands() -> None:
    opening = Path(README).read_text().split("\n## ", 1)[0]
    assert "make demo" in opening
    assert "make test" in opening
