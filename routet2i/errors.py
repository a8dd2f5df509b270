"""The project's exception hierarchy.

Every error a user can cause derives from :class:`Routet2iError`; the gateway and the worker map
these to HTTP statuses in one place, and the CLI prints their message and exits non-zero.
"""

from __future__ import annotations


class Routet2iError(Exception):
    """Base class of every error the project raises on purpose."""


class ConfigError(Routet2iError):
    """A configuration file or environment value is missing or invalid."""


class DataError(Routet2iError):
    """An input data file (ratings, prompts, images, manifest) is missing or malformed."""


class CheckpointError(Routet2iError):
    """A checkpoint is missing, malformed, or does not match what the caller asked for."""
