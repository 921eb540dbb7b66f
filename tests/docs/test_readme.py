"""The README stays short, its metrics table current, and the docs' links sound."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from exporter.catalog.own import SELF_METRICS
from tools.update_readme import END, METRICS_DOC, README, START, TABLES, render

ROOT = README.parent
DOCS = ROOT / "docs"
BENCH_README = ROOT / "bench" / "README.md"
README_LIMIT = 20_000

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_CODE_SPAN = re.compile(r"(`+)((?:(?!\n\s*\n).)+?)\1", re.DOTALL)  # within a paragraph
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def _prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, fence = [], ""
    for line in text.splitlines():
        match = _FENCE.match(line)
        if fence:
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                fence = ""
            continue
        if match:
            fence = match.group(1)
            continue
        lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation but '-' and '_' gone."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = _CODE_SPAN.sub(lambda m: m.group(2), text)
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a markdown file, with GitHub's -1, -2 for repeats."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in _prose_lines(path.read_text()):
        match = _HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> list[str]:
    """The targets of the inline links outside code blocks and code spans.

    A link's text may wrap onto the next line, so the prose is searched whole.
    """
    prose = "\n".join(_prose_lines(path.read_text()))
    return _LINK.findall(_CODE_SPAN.sub("", prose))


def relative_links(path: Path) -> list[tuple[str, Path, str]]:
    """(link as written, the path it resolves to, its #fragment) for each relative link."""
    result = []
    for target in links(path):
        if _EXTERNAL.match(target) or target.startswith("//"):
            continue
        file_part, _, fragment = target.partition("#")
        resolved = path if not file_part else (path.parent / unquote(file_part)).resolve()
        result.append((target, resolved, unquote(fragment)))
    return result


def checked_pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md")), BENCH_README]


# ---------------------------------------------------------------------------
# The README itself


@pytest.mark.parametrize("path", TABLES, ids=lambda path: path.name)
def test_a_metrics_table_matches_the_catalog(path: Path) -> None:
    text = path.read_text()
    assert text.count(START) == 1, f"keep exactly one {START} in {path.name}"
    assert text.count(END) == 1, f"keep exactly one {END} in {path.name}"
    assert render(text, TABLES[path]) == text, f"run `make docs` to regenerate {path.name}'s table"


def test_every_family_of_the_catalog_is_in_docs_metrics_md() -> None:
    text = METRICS_DOC.read_text()
    missing = [one.name for one in SELF_METRICS if f"`{one.name}`" not in text]
    assert not missing, f"docs/metrics.md lacks {missing}"


def test_readme_opens_with_the_demo_and_test_commands() -> None:
    opening = Path(README).read_text().split("\n## ", 1)[0]
    assert "make demo" in opening
    assert "make test" in opening


def test_readme_is_under_20_kb() -> None:
    size = len(README.read_bytes())
    assert size < README_LIMIT, (
        f"README.md is {size} bytes, over {README_LIMIT}: move detail into docs/"
    )


# ---------------------------------------------------------------------------
# Links


def test_every_docs_page_and_the_bench_readme_is_linked_from_the_readme() -> None:
    linked = {resolved for _, resolved, _ in relative_links(README)}
    pages = [*sorted(DOCS.glob("*.md")), BENCH_README]
    assert pages, "docs/ holds no pages"
    unlinked = [str(page.relative_to(ROOT)) for page in pages if page.resolve() not in linked]
    assert not unlinked, f"README.md links to none of: {', '.join(unlinked)}"


@pytest.mark.parametrize("page", checked_pages(), ids=lambda page: str(page.relative_to(ROOT)))
def test_relative_links_point_to_existing_files_and_anchors(page: Path) -> None:
    broken = []
    for target, resolved, fragment in relative_links(page):
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
            broken.append(f"{target}: no heading with anchor #{fragment} in {resolved.name}")
    assert not broken, f"broken links in {page.relative_to(ROOT)}:\n" + "\n".join(broken)


# ---------------------------------------------------------------------------
# The checker's own rules, so that a lenient checker cannot pass broken links


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Securing /metrics", "securing-metrics"),
        (
            "What `replay` means for dashboards and alerts",
            "what-replay-means-for-dashboards-and-alerts",
        ),
        ("When the API misbehaves: the fault matrix", "when-the-api-misbehaves-the-fault-matrix"),
        ("Docker Compose: everything, in demo mode", "docker-compose-everything-in-demo-mode"),
        ("Under load (`make bench-load`)", "under-load-make-bench-load"),
        ("AgoraAudioFreezeRateHigh", "agoraaudiofreezeratehigh"),
        ("state_dir and [the lock](x.md)", "state_dir-and-the-lock"),
    ],
)
def test_slug_follows_github(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_the_link_checker_finds_broken_links(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other\n\n## A section\n\n## A section\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n"
        "[ok](other.md#a-section) [repeat](other.md#a-section-1) [self](#page)\n"
        "[gone](missing.md) [bad anchor](other.md#nowhere) [bad self](#elsewhere)\n"
        "[web](https://example.com/x.md) `[code](ignored.md)` [wrapped\nacross lines](gone.md)\n\n"
        "```\n[fenced](ignored.md)\n# not a heading\n```\n"
    )
    checked = {
        target: resolved.exists() and (not fragment or fragment in anchors(resolved))
        for target, resolved, fragment in relative_links(page)
    }
    assert checked == {
        "other.md#a-section": True,
        "other.md#a-section-1": True,
        "#page": True,
        "missing.md": False,
        "other.md#nowhere": False,
        "#elsewhere": False,
        "gone.md": False,
    }
    assert "not-a-heading" not in anchors(page)
