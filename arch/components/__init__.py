"""Built-in component specs. Every module in this package is imported, so each registers itself;
a new component type is a new module here and needs no edit elsewhere."""
import importlib
import pkgutil

for _m in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_m.name}")
