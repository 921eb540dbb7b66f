"""The tree is the architecture docs/architecture.md describes: packages in data-flow
order, imports only from upstream, small modules and functions."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "exporter"
ARCHITECTURE = ROOT / "docs" / "architecture.md"

ORDER = (
    "timing",
    "agora",
    "simulator",
    "catalog",
    "settings",
    "store",
    "quota",
    "realtime",
    "insight",
    "calls",
    "scheduling",
    "serving",
    "console",
    "backfill",
    "app",
    "cli",
    "__main__",
)
"""Upstream first: each may import only those before it (and ``exporter`` itself)."""

MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 60


def _stage(module: Path) -> str:
    """The package (or top-level module) a file of the package belongs to."""
    first = module.relative_to(PACKAGE).parts[0]
    return first.removesuffix(".py")


def _imported_stages(module: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(module.read_text())):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "exporter" and len(parts) > 1:
                found.add(parts[1])
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("module", MODULES, ids=lambda m: str(m.relative_to(ROOT)))
def test_a_module_imports_only_from_stages_upstream_of_its_own(module: Path) -> None:
    stage = _stage(module)
    if stage == "__init__":
        assert _imported_stages(module) == set()
        return
    allowed = set(ORDER[: ORDER.index(stage) + 1])
    downstream = _imported_stages(module) - allowed
    assert not downstream, f"{stage} imports {sorted(downstream)}, which come after it"


def test_every_stage_of_the_tree_has_its_place_in_the_order() -> None:
    stages = {_stage(module) for module in MODULES} - {"__init__"}
    assert stages == set(ORDER)


def test_the_top_level_holds_only_the_composition_root_the_entry_point_and_packages() -> None:
    loose = {
        path.name
        for path in PACKAGE.iterdir()
        if path.is_file() and path.name not in ("__init__.py", "py.typed")
    }
    assert loose == {"app.py", "__main__.py"}


def test_architecture_md_names_every_package_and_only_packages_that_exist() -> None:
    text = ARCHITECTURE.read_text()
    named = set(re.findall(r"`exporter/(\w+)/`", text))
    packages = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").is_file()}
    assert named == packages


def test_architecture_md_lists_the_packages_in_the_order_imports_follow() -> None:
    text = ARCHITECTURE.read_text()
    listed = re.findall(r"^\d+\. \*\*`exporter/(\w+)(?:/|\.py)`\*\*", text, flags=re.M)
    assert tuple(listed) == tuple(stage for stage in ORDER if stage != "__main__")


@pytest.mark.parametrize("module", MODULES, ids=lambda m: str(m.relative_to(ROOT)))
def test_a_module_stays_small(module: Path) -> None:
    lines = len(module.read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{lines} lines: split it"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: str(m.relative_to(ROOT)))
def test_a_function_stays_short(module: Path) -> None:
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(module.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"split {', '.join(long)}"
