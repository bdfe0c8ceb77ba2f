"""Helpers shared by subcommands (a leading underscore: not itself a command)."""
from __future__ import annotations

from pathlib import Path

from loomsim.errors import LoomError


def output_path(path: str, force: bool) -> Path:
    """A path to write, refusing to overwrite a file the user has unless --force."""
    p = Path(path)
    if p.exists() and not force:
        raise LoomError(f"'{p}' exists; pass --force to overwrite it, or choose another file name.")
    if p.parent and not p.parent.exists():
        raise LoomError(f"cannot write '{p}': folder '{p.parent}' does not exist.")
    return p
