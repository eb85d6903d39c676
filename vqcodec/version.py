"""The package version, kept in a module of its own so reading it imports nothing else
(pyproject.toml reads it too)."""

__version__ = "0.1.0"
