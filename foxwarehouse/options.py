"""Option values from a fixed set (route, training type, format, ...): one check for the command line
and the library, so a typo is an error listing the valid values instead of a silent empty answer."""
from __future__ import annotations

from collections.abc import Sequence
from typing import overload

from .errors import UsageError
from .vocabulary import ROUTES, TRAINING_TYPES


@overload
def choice(option: str, value: str, valid: Sequence[str]) -> str: ...
@overload
def choice(option: str, value: str | None, valid: Sequence[str]) -> str | None: ...


def choice(option: str, value: str | None, valid: Sequence[str]) -> str | None:
    """`value` spelled as in `valid` (matched case-insensitively), None stays None; else UsageError."""
    if value is None:
        return None
    by_folded = {v.casefold(): v for v in valid}
    found = by_folded.get(str(value).strip().casefold())
    if found is None:
        raise UsageError(f"unknown {option} {value!r}; valid values: {', '.join(valid)}")
    return found


def route(value: str | None) -> str | None:
    return choice("route", value, ROUTES)


def training_type(value: str | None) -> str | None:
    return choice("training type", value, TRAINING_TYPES)
