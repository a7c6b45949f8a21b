"""The error hierarchy: every expected failure is a FoxError carrying one readable message.

The CLI turns a FoxError into that message on stderr and its exit code, never a traceback.
"""
from __future__ import annotations


class FoxError(Exception):
    """Base class for every error foxwarehouse reports to a user."""

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputError(FoxError):
    """A metrics file is missing, unreadable or breaks the input contract."""


class ConfigError(FoxError):
    """The routing config is invalid; the message names the dotted key."""


class ModelError(FoxError):
    """A SQL model or macro cannot be rendered, parsed, ordered or executed."""


class BuildError(FoxError):
    """A build produced an invalid plan (duplicate job ids and the like)."""


class AuditError(FoxError):
    """A post-build audit returned failing rows."""


class WarehouseError(FoxError):
    """The warehouse file cannot be opened, is busy, or has an unknown schema."""


class RunNotFound(FoxError):
    """A run reference (id, latest, latest~N) does not resolve."""


class PlanError(FoxError):
    """A training plan on disk is corrupt or does not match the schema."""


class OutputError(FoxError):
    """An output folder cannot take an export: in use by another export, or holding files foxwarehouse did not write."""
