"""Every config key of a resolved config with its value and one-line meaning: `advnets config PRESET`.

The meaning of a key is the comment at the end of its field's line in the dataclass that declares it (the config
classes here, and each registered entry's options), so the reference cannot drift from the code: a field without
a comment shows none. Open sections list the keys of the entry the config selects.

`markdown_reference()` renders the defaults and every registered entry's keys as docs/config.md
(`python -m advnets.config_reference > docs/config.md`).
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


# ------------------------------------------------------------------------------------------ docs/config.md
# `python -m advnets.config_reference > docs/config.md` writes the reference of every key as markdown: the
# defaults of RunConfig, then every registered member of every open section. tests/test_docs.py holds the page
# equal to it.

# A readable heading for the open sections that ship; a new section falls back to its path.
_SECTION_TITLES = {
    "data": "Data sets",
    "model.generator": "Generator families",
    "model.discriminator": "Discriminator families",
    "loss": "Losses",
    "penalties": "Penalties and constraints",
    "transforms": "Input transforms",
    "g_objectives": "G objectives",
    "eval.metrics": "Metrics",
    "train.rule": "Update rules",
}


@dataclasses.dataclass(frozen=True)
class OpenSection:
    """One open section of the config: its dotted path, its registry and, for a selected section, the full key
    that names its entry (`data.name`; None for a mapped section, which takes any number of entries)."""

    path: str
    registry: Any
    selector: str | None


def open_sections() -> list[OpenSection]:
    """Every open section that advnets.config declares, in the order its path appears in RunConfig.

    Read from config.SELECTED (path -> (module, registry, selector)), config.MAPPED (path -> (module,
    registry)) and any other module-level table of either shape (config.SELECTED_BESIDE, whose selector is a
    full key), so a new kind of section is listed without changes here."""
    from advnets import config
    from advnets.registry import Registry

    sections: dict[str, OpenSection] = {}
    known: list[dict[Any, Any]] = [config.SELECTED, config.MAPPED]
    others = [t for t in vars(config).values() if isinstance(t, dict) and all(t is not k for k in known)]
    tables = known + others
    for table in tables:
        for path, entry in table.items():
            if path in sections or not _is_section_entry(path, entry):
                continue
            try:
                registry = config._registry(entry[0], entry[1])
            except (ImportError, AttributeError):
                continue
            if not isinstance(registry, Registry):
                continue
            selector = None
            if len(entry) > 2:  # selected by a key in the section (`name`) or by a full key (`train.update`)
                selector = entry[2] if "." in entry[2] else f"{path}.{entry[2]}"
            sections[path] = OpenSection(path, registry, selector)
    order = _config_paths()
    return sorted(sections.values(), key=lambda s: order.index(s.path) if s.path in order else len(order))


def _is_section_entry(path: Any, entry: Any) -> bool:
    return (
        isinstance(path, str)
        and isinstance(entry, tuple)
        and 2 <= len(entry) <= 3
        and all(isinstance(part, str) for part in entry)
        and entry[0].split(".")[0] == "advnets"
    )


def _config_paths(cls: type = RunConfig, prefix: str = "") -> list[str]:
    """Every dotted field path of the config classes, depth first in declaration order."""
    paths: list[str] = []
    for f in dataclasses.fields(cls):
        paths.append(f"{prefix}{f.name}")
        default = _field_default(f)
        if dataclasses.is_dataclass(default) and not isinstance(default, type):
            paths += _config_paths(type(default), f"{prefix}{f.name}.")
    return paths


def _field_default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _md(text: str) -> str:
    """Text for a markdown table cell: pipes escaped everywhere, `*` and `<` outside code spans."""
    parts = text.split("`")
    for i in range(0, len(parts), 2):  # even parts lie outside code spans
        parts[i] = parts[i].replace("*", r"\*").replace("<", r"\<")
    return "`".join(parts).replace("|", r"\|")


def _code(value: Any) -> str:
    return f"`{_show(value)}`".replace("|", r"\|")


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    kept = "".join(c for c in heading.lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def _section_heading(section: OpenSection) -> str:
    return f"{_SECTION_TITLES.get(section.path, section.path)}: `{section.path}`"


def _table(rows: list[tuple[str, str, str]]) -> list[str]:
    lines = ["| key | default | meaning |", "|---|---|---|"]
    lines += [f"| `{key}` | {value} | {meaning} |" for key, value, meaning in rows]
    return lines


def _member_rows(cls: type, prefix: str) -> list[tuple[str, str, str]]:
    """(key, default, meaning) for every key of an options class, nested options flattened."""
    try:
        instance = cls()
    except TypeError:  # a key without a default: list the fields as declared
        comments = field_comments(cls)
        rows = []
        for f in dataclasses.fields(cls):
            default = _field_default(f)
            shown = "(required)" if default is dataclasses.MISSING else _code(default)
            rows.append((f"{prefix}{f.name}", shown, _md(comments.get(f.name, ""))))
        return rows
    return [(key, _code(value), _md(meaning)) for key, value, meaning in _rows(instance, prefix)]


def _defaults_rows(sections: dict[str, OpenSection]) -> dict[str, list[tuple[str, str, str]]]:
    """RunConfig's defaults grouped by table: "" for the top-level keys, else one table per fixed section. An
    open section shows as one row (its selector with the default entry, or the empty mapping) linking to its
    members."""
    tables: dict[str, list[tuple[str, str, str]]] = {}

    def link(section: OpenSection) -> str:
        names = ", ".join(f"`{n}`" for n in section.registry.names()) or "none registered"
        return f"entries {names} ([their keys](#{_anchor(_section_heading(section))}))"

    def walk(node: Any, prefix: str, table: str) -> None:
        comments = field_comments(type(node))
        for f in dataclasses.fields(node):
            key, value = f"{prefix}{f.name}", getattr(node, f.name)
            meaning = _md(comments.get(f.name, ""))
            section = sections.get(key)
            if section is not None:
                selector = section.selector
                if selector is None:  # mapped: any number of entries, name -> options
                    row = (key, _code(value), "; ".join(filter(None, [meaning, link(section)])))
                elif selector.startswith(f"{key}.") and isinstance(value, dict):
                    selected = value.get(selector.removeprefix(f"{key}."))
                    row = (selector, _code(selected), "; ".join(filter(None, [meaning, link(section)])))
                else:  # selected by a key beside it, which has its own row
                    row = (key, _code(value), f"the keys of the entry `{selector}` names; {link(section)}")
                tables.setdefault(table, []).append(row)
            elif dataclasses.is_dataclass(value) and not isinstance(value, type):
                walk(value, f"{key}.", table or key)
            else:
                tables.setdefault(table, []).append((key, _code(value), meaning))

    walk(RunConfig(), "", "")
    return tables


def _section_lines(section: OpenSection) -> list[str]:
    registry = section.registry
    inside = section.selector is not None and section.selector.startswith(f"{section.path}.")
    if section.selector is None:
        how = (
            f"Any number of entries, each switched on by setting one of its keys "
            f"(`{section.path}.NAME.key=value`), or by name with its defaults (`{section.path}=[NAME]`)."
        )
    elif inside:
        how = f"One entry, named by `{section.selector}`: naming another starts from that one's defaults."
    else:
        how = f"The keys of the entry that `{section.selector}` names."
    lines = [f"## {_section_heading(section)}", "", how]
    groups: dict[type, list[str]] = {}  # members that share an options class share a table
    for name in registry.names():
        groups.setdefault(registry.options(name), []).append(name)
    if not groups:
        lines += ["", "No entry is registered."]
    for cls, names in groups.items():
        lines += ["", "### " + ", ".join(f"`{n}`" for n in names), ""]
        if section.selector is None:
            rows = _member_rows(cls, f"{section.path}.{names[0] if len(names) == 1 else 'NAME'}.")
        else:
            rows = _member_rows(cls, f"{section.path}.")
        if section.selector is not None and inside:
            # the selector's row names the members, not one class default (ImageDataOptions: digits, mnist)
            own = section.selector.removeprefix(f"{section.path}.")
            rows = [row for row in rows if row[0] != section.selector]
            meaning = _md(field_comments(cls).get(own, ""))
            rows.insert(0, (section.selector, " \\| ".join(f"`{n}`" for n in names), meaning))
        if rows:
            lines += _table(rows)
        else:
            lines.append("No keys of its own.")
    return lines


_INTRO = """\
A run's configuration is a tree of typed sections (`advnets.config.RunConfig`). A preset or a YAML file of
your own sets some keys; every other key keeps the default listed here. Any key can be changed on the command
line with a dotted override, `advnets train PRESET key.sub=value` (lists as `[a,b]`); an unknown key, a wrong
type or an impossible value stops with one line naming the key and the fix, before anything is written.
`advnets config PRESET [key.sub=value ...]` prints every key of that preset with its value and meaning.
The training defaults are the paper's update ([paper.md §0](paper.md)); paper-specific choices (its uniform
init, the marginal output bias) are off by default and switched on by the presets that need them
(`mnist-paper`, `digits`).

Some sections are *open*: their keys belong to a registered entry. A *selected* section holds one entry, named
by its selector key (`data.name=mnist`, `model.discriminator.arch=mlp`, `loss.name=wgan`); changing the
selector starts the section from that entry's defaults. A *mapped* section holds any number of entries, each
switched on by one of its keys (`penalties.r1.weight=10`) or by name with its defaults
(`eval.metrics=[parzen]`). Entries registered from your own code ([design.md, "The axes"](design.md#the-axes))
bring their own keys the same way.

This page is generated from the options classes, whose trailing comments are the meanings:
`python -m advnets.config_reference > docs/config.md`."""


def markdown_reference() -> str:
    """Every config key as a markdown page (docs/config.md): RunConfig's defaults, then each open section's
    registered entries with their keys, defaults and meanings."""
    sections = open_sections()
    by_path = {s.path: s for s in sections}
    lines = ["# Configuration reference", "", _INTRO, "", "## Defaults"]
    for table, rows in _defaults_rows(by_path).items():
        lines += ["", f"### `{table}`" if table else "### Top level", ""] + _table(rows)
    for section in sections:
        lines += [""] + _section_lines(section)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(markdown_reference())
