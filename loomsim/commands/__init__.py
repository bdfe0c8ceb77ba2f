"""Subcommands of `loom`: each module defines `register(subparsers)`."""
