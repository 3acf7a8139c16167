"""Errors raised by poppyscan: one root class, a few domain subclasses.

Each subclass also inherits the builtin a caller would expect, so code that
catches ``ValueError`` or ``OSError`` keeps working. Messages name the file,
the bad value and, where there is one, the fix.
"""

__all__ = ["PoppyscanError", "RasterError", "ConfigError", "ModelError", "LabelError", "OutputError",
           "RunInterrupted"]


class PoppyscanError(Exception):
    """Root of every error poppyscan raises on purpose."""


class RasterError(PoppyscanError, ValueError):
    """An input raster cannot be used: unreadable, not georeferenced, too small."""


class ConfigError(PoppyscanError, ValueError):
    """A parameter or configuration value is out of range or inconsistent."""


class ModelError(PoppyscanError, ValueError):
    """A model bundle is missing, incomplete or inconsistent with its card."""


class LabelError(PoppyscanError, ValueError):
    """A label file cannot be read or does not match its imagery."""


class OutputError(PoppyscanError, OSError):
    """An output folder cannot be written: read-only, full, locked by another run."""


class RunInterrupted(PoppyscanError):
    """A run stopped on Ctrl-C or SIGTERM; its message says how to resume."""
