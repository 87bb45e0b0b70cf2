"""A tiny name -> object registry shared by models and datasets (after timm's `_registry.py`)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from cnnzoo.utils.errors import ConfigError

T = TypeVar("T")


def did_you_mean(name: str, known: list[str]) -> str:
    """Return ' Did you mean "x"?' for the closest known name, or ''."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f' Did you mean "{close[0]}"?' if close else ""


class Registry(Generic[T]):
    """Maps lowercase names to entries; duplicate names are programmer errors."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form: `@REGISTRY.register("name")`."""

        def add(entry: T) -> T:
            self.add(name, entry)
            return entry

        return add

    def add(self, name: str, entry: T) -> None:
        """Register `entry` under `name`."""
        assert name == name.lower(), f"registry keys are lowercase: {name!r}"
        assert name not in self._entries, f"duplicate {self.kind} name: {name!r}"
        self._entries[name] = entry

    def get(self, name: str) -> T:
        """Return the entry for `name` or raise a ConfigError listing the known names."""
        if name not in self._entries:
            raise ConfigError(
                f'Unknown {self.kind} "{name}". Known: {", ".join(self.names())}.'
                + did_you_mean(name, self.names())
            )
        return self._entries[name]

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)
