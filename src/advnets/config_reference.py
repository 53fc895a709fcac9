"""Every config key of a resolved config with its value and one-line meaning: `advnets config PRESET`.

The meaning of a key is the comment at the end of its field's line in the dataclass that declares it (the config
classes here, and each registered entry's options), so the reference cannot drift from the code: a field without
a comment shows none. Open sections list the keys of the entry the config selects.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import tokenize
from typing import Any

import yaml

from advnets.config import RunConfig

_COMMENTS: dict[type, dict[str, str]] = {}


def field_comments(cls: type) -> dict[str, str]:
    """Field name -> the trailing comment on its line, for a dataclass and its bases."""
    if cls not in _COMMENTS:
        _COMMENTS[cls] = _read_comments(cls)
    return _COMMENTS[cls]


def _read_comments(cls: type) -> dict[str, str]:
    comments: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):  # made at run time (make_dataclass): no source to read
            continue
        names = {f.name for f in dataclasses.fields(klass)}
        line_field: dict[int, str] = {}
        for lineno, line in enumerate(source.splitlines(), start=1):
            head = line.strip().split(":", 1)[0]
            if head in names and ":" in line:
                line_field[lineno] = head
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT and token.start[0] in line_field:
                comments[line_field[token.start[0]]] = token.string.lstrip("# ").strip()
    return comments


def _rows(node: Any, prefix: str) -> list[tuple[str, Any, str]]:
    rows: list[tuple[str, Any, str]] = []
    comments = field_comments(type(node))
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            rows += _rows(value, f"{key}.")
        elif isinstance(value, dict) and value and all(dataclasses.is_dataclass(v) for v in value.values()):
            for name, options in value.items():
                rows += _rows(options, f"{key}.{name}.")
        else:
            rows.append((key, value, comments.get(f.name, "")))
    return rows


def reference_rows(cfg: RunConfig) -> list[tuple[str, Any, str]]:
    """(dotted key, value, meaning) for every key of `cfg`, in declaration order."""
    return _rows(cfg, "")


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict) and not value:
        return "{}"
    return yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("...").strip()


def reference_text(cfg: RunConfig) -> str:
    """The rows as aligned text: `key = value  # meaning`."""
    from advnets.config import MAPPED, _registry

    available = {path: ", ".join(_registry(*entry).names()) or "none registered" for path, entry in MAPPED.items()}
    rows = [
        (key, _show(value), f"{meaning} (available: {available[key]})" if key in available else meaning)
        for key, value, meaning in reference_rows(cfg)
    ]
    width = max(len(f"{k} = {v}") for k, v, _ in rows)
    lines = [f"{f'{k} = {v}':<{width}}  # {m}" if m else f"{k} = {v}" for k, v, m in rows]
    return "\n".join(lines) + "\n"
