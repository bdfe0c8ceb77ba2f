"""One kind of registry for every extension point: names to implementations, duplicates refused."""
from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class RegistrationError(RuntimeError):
    """A programming error: two implementations registered under one name."""


class Registry(Generic[T]):
    """Names to implementations (component types, models, generators, benchmarks, runners)."""

    def __init__(self, what: str):
        self.what = what
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(item: T) -> T:
            if name in self._items and self._items[name] is not item:
                old = self._items[name]
                raise RegistrationError(f"{self.what} {name!r} is registered twice: by "
                                        f"{getattr(old, '__module__', '?')}.{getattr(old, '__qualname__', old)} and by "
                                        f"{getattr(item, '__module__', '?')}.{getattr(item, '__qualname__', item)}")
            self._items[name] = item
            return item
        return deco

    def get(self, name: str) -> T | None:
        return self._items.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def items(self) -> dict[str, T]:
        return dict(sorted(self._items.items()))
