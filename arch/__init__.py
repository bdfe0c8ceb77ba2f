"""Architectures: YAML -> validated, frozen `ArchSpec`s; units; the component-type registry; energy."""
from loomsim.arch.loader import load_arch, parse_arch, resolve_arch_path, shipped_arch_names
from loomsim.arch.params import ParamInfo, params_of
from loomsim.arch.registry import ComponentSpec, component_types, register
from loomsim.arch.spec import ArchSpec

__all__ = ["ArchSpec", "ComponentSpec", "ParamInfo", "component_types", "load_arch", "params_of",
           "parse_arch", "register", "resolve_arch_path", "shipped_arch_names"]
