"""SQL unit tests: how values are written into test files (``create-test`` and ``test --update``).

One home for the writing style: values from DuckDB made YAML-friendly (``plain``), floats written
short when that changes nothing (``short``), and one value as a single line of flow-style YAML
(``flow``), quoted wherever YAML needs it (``[``, ``:``, ``#``, quotes, leading spaces, ``null``...).
"""
from __future__ import annotations

import datetime as _dt
import decimal
import math
from collections.abc import Iterable
from typing import Any

import yaml

SHORT_DIGITS = 6


class _FlowDumper(yaml.SafeDumper):
    """Safe YAML whose multi-line strings stay on one line (double-quoted, with \\n escapes)."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if ("\n" in value or "\r" in value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_FlowDumper.add_representer(str, _str)


def flow(value: Any, sort_keys: bool = True) -> str:
    """`value` as one line of flow-style YAML."""
    text = yaml.dump(value, Dumper=_FlowDumper, default_flow_style=True, width=1 << 30, allow_unicode=True,
                     sort_keys=sort_keys)
    return text.strip().removesuffix("...").strip()


def plain(row: Iterable[Any]) -> list[Any]:
    return [plain_value(v) for v in row]


def plain_value(value: Any) -> Any:
    """A YAML-friendly value: Decimals as floats, dates as ISO text, tuples as lists."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (_dt.date, _dt.datetime, _dt.time)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [plain_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain_value(v) for k, v in value.items()}
    return value


def short(value: Any) -> Any:
    """Finite non-zero floats rounded to SHORT_DIGITS significant digits (inside lists and mappings too)."""
    if isinstance(value, float) and math.isfinite(value) and value != 0:
        return float(f"{value:.{SHORT_DIGITS}g}")
    if isinstance(value, list):
        return [short(v) for v in value]
    if isinstance(value, dict):
        return {k: short(v) for k, v in value.items()}
    return value
