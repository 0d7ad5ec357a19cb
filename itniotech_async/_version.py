"""The package's version, the one place it is written (``pyproject.toml`` reads it)."""

from __future__ import annotations

__all__ = ["__version__"]

#: The version of this package, as in its metadata.
__version__ = "0.1.0"
