"""Name -> entry registries: every axis of advnets (data sets, model families, losses, penalties, input transforms,
G-side objectives, update rules, metrics) is one of these, so a new member is one module plus one `register` call.

An entry may declare an *options* dataclass: the config keys it accepts, with their defaults. The config loader
(`advnets.config`) checks a section against it, so unknown keys and wrong types fail with a message that names the
key, and the resolved config written to a run folder lists every option with its value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from advnets.errors import UserError

T = TypeVar("T")


@dataclasses.dataclass
class NoOptions:
    """For entries that take no config keys."""


class Registry(Generic[T]):
    """A named table of entries; unknown names give a UserError listing the known ones."""

    def __init__(self, kind: str) -> None:
        self.kind = kind  # the config key that names an entry, e.g. "loss.name"
        self._items: dict[str, T] = {}
        self._options: dict[str, type] = {}

    def register(self, name: str, *, options: type | None = None) -> Callable[[T], T]:
        """Decorator (or call) adding `item` under `name`; `options` is the dataclass of its config keys."""
        if options is not None and not dataclasses.is_dataclass(options):
            raise TypeError(f"options of {self.kind} {name!r} must be a dataclass, got {options!r}")

        def add(item: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = item
            self._options[name] = options or NoOptions
            return item

        return add

    def unregister(self, name: str) -> None:
        """Remove an entry (tests and plugins that register throw-away members clean up with this)."""
        self._items.pop(name, None)
        self._options.pop(name, None)

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise UserError(self._unknown(name)) from None

    def options(self, name: str) -> type:
        """The options dataclass of entry `name` (NoOptions when it declared none)."""
        if name not in self._options:
            raise UserError(self._unknown(name))
        return self._options[name]

    def _unknown(self, name: object) -> str:
        import difflib

        close = difflib.get_close_matches(str(name), self._items, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown {self.kind} {name!r}{hint}; choose one of: {', '.join(sorted(self._items))}"

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))


def options_dict(options: Any) -> dict[str, Any]:
    """An options dataclass instance -> a plain dict (for YAML and comparisons)."""
    return dataclasses.asdict(options)
