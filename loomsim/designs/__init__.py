"""Design-specific experiment runners (one module per modelled design), registered for `loom validate`.

Every module here is imported, so each registers itself with `@experiment_runner("name")`.
"""
import importlib
import pkgutil

for _m in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_m.name}")
