"""The component-type registry: the YAML `type:` key picks a spec class registered here."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, TypeVar

from loomsim.arch.params import Spec
from loomsim.registry import RegistrationError, Registry  # noqa: F401  (RegistrationError re-exported)

T = TypeVar("T", bound=type)



@dataclass(frozen=True, kw_only=True)
class ComponentSpec(Spec):
    """Base of every component spec. `name` is the component's key in the YAML `components:` map."""

    name: str

    def energy_keys(self) -> tuple[str, ...]:
        """Energy-table entries this component needs (checked at load time)."""
        return ()

    def resolve(self, arch_clock_hz: int | None, energy: "dict[str, float]") -> dict:
        """Values to fill in from the architecture (inherited clock, table energies); {} if none."""
        return {}

    def check(self) -> "list[tuple[str, str, str]]":
        """Problems among parameters that their one-by-one declarations cannot see:
        (YAML key, message, expected). The loader reports them with file and line."""
        return []


_COMPONENTS: Registry[type[ComponentSpec]] = Registry("component type")


def register(type_name: str) -> Callable[[T], T]:
    """Class decorator: make a spec class loadable as `type: <type_name>`."""

    def deco(cls: T) -> T:
        _COMPONENTS.register(type_name)(cls)
        cls.type_name = type_name
        return cls

    return deco


def component_types() -> dict[str, type[ComponentSpec]]:
    """Every registered component type, after importing the built-in component modules."""
    import loomsim.arch.components  # noqa: F401  (registers the built-in types)

    return _COMPONENTS.items()
