"""YAML as people write it: multi-line PromQL as literal blocks, prose folded between words.

PyYAML folds long strings anywhere, ``{{ $labels.appid }}`` included; the
strings under :data:`FOLDED_KEYS` are folded here instead, never inside a
``{{ ... }}`` template action. :func:`dump` checks that the text loads back
to the very document it was given.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import yaml

WIDTH = 100
FOLDED_KEYS = frozenset({"summary", "description"})
_ACTION = re.compile(r"\{\{.*?\}\}")
_HELD_SPACE = "\0"


class _Dumper(yaml.SafeDumper):
    """Literal blocks for text with newlines; sequences indented under their key."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def _foldable(value: str) -> bool:
    """Text a folded block holds unchanged: single spaces, no edge or tab whitespace."""
    return " " in value and value == " ".join(value.split(" ")) and value.strip() == value


def _fold(text: str, indent: int) -> str:
    """``text`` as the lines of a folded block scalar (``>-``), each at most WIDTH wide."""
    held = _ACTION.sub(lambda m: m[0].replace(" ", _HELD_SPACE), text)
    words = [word.replace(_HELD_SPACE, " ") for word in held.split(" ")]
    lines: list[str] = []
    line = ""
    for word in words:
        if line and indent + len(line) + 1 + len(word) > WIDTH:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return textwrap.indent("\n".join(lines), " " * indent)


def dump(document: Any) -> str:
    """``document`` as block YAML, keys in the order given."""
    folded: dict[str, str] = {}

    def hold(node: Any, key: str | None = None) -> Any:
        if isinstance(node, dict):
            return {k: hold(v, k) for k, v in node.items()}
        if isinstance(node, list):
            return [hold(item) for item in node]
        if key in FOLDED_KEYS and isinstance(node, str) and _foldable(node) and len(node) > 60:
            token = f"folded-{len(folded)}-placeholder"
            folded[token] = node
            return token
        return node

    text = yaml.dump(
        hold(document), Dumper=_Dumper, sort_keys=False, width=1 << 16, allow_unicode=True
    )
    lines = []
    for line in text.splitlines():
        key, _, value = line.partition(": ")
        if value in folded:
            indent = len(key) - len(key.lstrip()) + 2
            line = f"{key}: >-\n{_fold(folded[value], indent)}"
        lines.append(line)
    text = "\n".join(lines) + "\n"
    if yaml.safe_load(text) != document:
        raise AssertionError("the YAML text does not load back to its document")
    return text


def dump_all(documents: list[Any]) -> str:
    """Several documents separated by ``---``."""
    return "---\n".join(dump(document) for document in documents)
