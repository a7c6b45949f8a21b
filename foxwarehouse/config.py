"""Routing config: loading, validation (the keys and values docs/ROUTING.md describes), defaults, and the config hash.

The validated config is a plain dict in canonical form: every key present, every THRESHOLD
expanded to ``{"classification": N, "regression": {"default": .., "short": .., ...}}``, enum values
upper-cased. Models read it through the ``config`` template variable.
"""
from __future__ import annotations

import copy
import difflib
import hashlib
import json
import math
import warnings
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .vocabulary import ROUTES, STABILITIES

BOTH_STRONG_BEHAVIORS = ("ROUTE_BOTH", "PREFER_CS", "PREFER_SYMBOL")
DUMP_FORMATS = ("JSON", "YAML", "MARKDOWN")
TIERS = ("default", "short", "medium", "long", "very_long")

# Keys FoxML's routing config carries that this contract does not use: accepted with a warning.
FOXML_ONLY_KEYS = {
    "routing.require_safe_features_only",
    "routing.allowed_feature_leakage_status",
    "routing.require_min_successful_families",
    "routing.log_decision_reasons",
}

_REQUIRED = object()

# The schema: leaves are (kind, default). A dict value is a nested section.
SCHEMA: dict[str, Any] = {
    "routing": {
        "min_sample_size": {"cross_sectional": ("count", 5000), "symbol": ("count", 1000)},
        "block_on_leakage": ("bool", True),
        "dev_mode": ("bool", False),
        "dev_mode_min_sample_size": ("count", 1000),
        "cross_sectional": {"min_score": ("threshold", _REQUIRED), "strong_score": ("threshold", _REQUIRED)},
        "symbol": {"min_score": ("threshold", _REQUIRED), "strong_score": ("threshold", _REQUIRED)},
        "stability_allowlist": {
            "cross_sectional": ("stabilities", ["STABLE", "DRIFTING", "UNKNOWN"]),
            "symbol": ("stabilities", ["STABLE", "UNKNOWN"]),
        },
        "both_strong_behavior": ("both_strong", "ROUTE_BOTH"),
        "enable_experimental_lane": ("bool", True),
        "experimental": {
            "min_score": ("threshold", None),
            "allowed_stabilities": ("stabilities", ["DRIFTING", "UNKNOWN"]),
            "max_fraction_symbols_per_target": ("fraction", 0.2),
        },
        "stability_classification": {
            "stable_overlap_min": ("number", 0.70),
            "drifting_overlap_min": ("number", 0.50),
            "stable_tau_min": ("number", 0.60),
            "drifting_tau_min": ("number", 0.40),
            "max_std_overlap": ("number", 0.20),
            "max_std_tau": ("number", 0.25),
            "min_snapshots_for_stability": ("count", 2),
        },
        "dump_plan_as": ("dump_formats", ["JSON", "YAML", "MARKDOWN"]),
    },
    "training_plan": {
        "model_families": ("families", ["lightgbm", "xgboost"]),
        "model_families_by_route": ("families_by_route", {}),
        "drop_failed_families": ("bool", True),
        "include_blocked": ("bool", False),
        "derived_views": ("bool", True),
    },
}


def packaged_config_path() -> Path:
    from .project import bundled_dir

    return bundled_dir("config") / "routing_config.yaml"


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read a YAML config file (or the packaged default) and return the validated config.

    Its notices (FoxML-only keys and the like) are emitted as UserWarnings; callers that report
    them themselves use ``load_config_with_notices``.
    """
    validated, notices = load_config_with_notices(path, overrides)
    _emit(notices)
    return validated


def load_config_with_notices(path: str | Path | None = None, overrides: dict[str, Any] | None = None
                             ) -> tuple[dict[str, Any], list[str]]:
    """Read and validate a YAML config file (or the packaged default): (config, notices)."""
    path = Path(path) if path is not None else packaged_config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}", path=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}", path=path) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        # YAML marks count from 0; editors and the fields count from 1.
        raise ConfigError(f"config file {path} is not valid YAML: {exc}", path=path,
                          line=mark.line + 1 if mark else None, column=mark.column + 1 if mark else None) from None
    if raw is None:
        raw = {}
    try:
        return validate_config_with_notices(raw, overrides=overrides)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc.message}", path=path, key=exc.key) from None


def validate_config(raw: Any, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Validate a config mapping; `overrides` maps dotted keys to values applied first.

    Notices are emitted as UserWarnings; ``validate_config_with_notices`` returns them instead.
    """
    validated, notices = validate_config_with_notices(raw, overrides)
    _emit(notices)
    return validated


def validate_config_with_notices(raw: Any, overrides: dict[str, Any] | None = None
                                 ) -> tuple[dict[str, Any], list[str]]:
    """Validate a config mapping: (the validated config, its notices such as FoxML-only keys)."""
    raw = copy.deepcopy(raw)
    if not isinstance(raw, dict):
        raise ConfigError(f"config must be a mapping with a 'routing' section, got {_type_name(raw)}")
    for dotted, value in (overrides or {}).items():
        _set_dotted(raw, dotted, value)
    notices: list[str] = []
    validated = _validate_section(raw, SCHEMA, "", notices)
    routing = validated["routing"]
    if routing["enable_experimental_lane"] and routing["experimental"]["min_score"] is None:
        raise ConfigError(
            "routing.experimental.min_score: required when routing.enable_experimental_lane is true",
            key="routing.experimental.min_score",
        )
    return validated, notices


def _emit(notices: list[str]) -> None:
    # The list is the source of truth; the warnings only exist for plain library callers of
    # load_config/validate_config, which have no other channel for them. stacklevel 3 names
    # the caller of those two functions.
    for notice in notices:
        warnings.warn(notice, UserWarning, stacklevel=3)


def config_hash(config: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a validated config."""
    return hashlib.sha256(canonical_json(config).encode("utf-8")).hexdigest()


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted-path view of a nested mapping ({'routing.dev_mode': False, ...})."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, path + "."))
        else:
            out[path] = value
    return out


def _set_dotted(raw: dict, dotted: str, value: Any) -> None:
    node = raw
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def _validate_section(raw: Any, schema: dict[str, Any], path: str, notices: list[str]) -> dict[str, Any]:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path.rstrip('.') or 'config'}: expected a mapping, got {_type_name(raw)}",
                          key=path.rstrip(".") or None)
    out: dict[str, Any] = {}
    for key in raw:
        dotted = f"{path}{key}"
        if not isinstance(key, str) or key not in schema:
            if dotted in FOXML_ONLY_KEYS:
                notices.append(f"config key {dotted} is not used by foxwarehouse (ignored)")
                continue
            raise ConfigError(_unknown_key_message(dotted, key, schema, path), key=dotted)
    for key, spec in schema.items():
        dotted = f"{path}{key}"
        if isinstance(spec, dict):
            out[key] = _validate_section(raw.get(key), spec, dotted + ".", notices)
            continue
        kind, default = spec
        if key not in raw or raw[key] is None:
            if default is _REQUIRED:
                raise ConfigError(f"{dotted}: required key is missing", key=dotted)
            out[key] = copy.deepcopy(default)
            continue
        out[key] = _VALIDATORS[kind](raw[key], dotted)
    return out


def _unknown_key_message(dotted: str, key: Any, schema: dict[str, Any], path: str) -> str:
    known = [k for k in schema]
    close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.5)
    hint = f"; did you mean {path}{close[0]}?" if close else f"; known keys here: {', '.join(known)}"
    return f"{dotted}: unknown config key{hint}"


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{path}: expected a number, got {_type_name(value)} {value!r}", key=path)
    if not math.isfinite(value):
        raise ConfigError(f"{path}: expected a finite number, got {value!r}", key=path)
    return float(value)


def _count(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ConfigError(f"{path}: expected a whole number, got {_type_name(value)} {value!r}", key=path)
    if value < 0:
        raise ConfigError(f"{path}: must be >= 0, got {value}", key=path)
    return value


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{path}: expected true or false, got {_type_name(value)} {value!r}", key=path)
    return value


def _fraction(value: Any, path: str) -> float:
    number = _number(value, path)
    if not 0.0 <= number <= 1.0:
        raise ConfigError(f"{path}: must be a fraction in [0, 1], got {value!r}", key=path)
    return number


def _enum(value: Any, path: str, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{path}: expected one of {', '.join(allowed)}, got {_type_name(value)} {value!r}", key=path)
    norm = value.strip().upper()
    if norm not in allowed:
        close = difflib.get_close_matches(norm, allowed, n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(f"{path}: {value!r} is not one of {', '.join(allowed)}{hint}", key=path)
    return norm


def _enum_list(value: Any, path: str, allowed: tuple[str, ...]) -> list[str]:
    if isinstance(value, str) or not isinstance(value, list):
        raise ConfigError(f"{path}: expected a list, got {_type_name(value)} {value!r}", key=path)
    out: list[str] = []
    for index, item in enumerate(value):
        norm = _enum(item, f"{path}[{index}]", allowed)
        if norm not in out:
            out.append(norm)
    return out


def _stabilities(value: Any, path: str) -> list[str]:
    return _enum_list(value, path, STABILITIES)


def _dump_formats(value: Any, path: str) -> list[str]:
    if isinstance(value, list):
        value = ["MARKDOWN" if isinstance(v, str) and v.strip().upper() == "MD" else v for v in value]
    return _enum_list(value, path, DUMP_FORMATS)


def _both_strong(value: Any, path: str) -> str:
    return _enum(value, path, BOTH_STRONG_BEHAVIORS)


def _families(value: Any, path: str) -> list[str]:
    """Families are kept as written; lower-casing and de-duplication happen in the plan SQL."""
    if isinstance(value, str) or not isinstance(value, list):
        raise ConfigError(f"{path}: expected a list of model family names, got {_type_name(value)} {value!r}", key=path)
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise ConfigError(f"{path}[{index}]: expected a non-empty family name, got {item!r}", key=f"{path}[{index}]")
        if "\x00" in item:
            raise ConfigError(f"{path}[{index}]: a family name may not contain a NUL character, got {item!r}", key=f"{path}[{index}]")
    return list(value)


def _families_by_route(value: Any, path: str) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: expected a mapping of route to family list, got {_type_name(value)}", key=path)
    out: dict[str, list[str]] = {}
    for route, families in value.items():
        norm = _enum(route, f"{path}.{route}", ROUTES)
        out[norm] = _families(families, f"{path}.{route}")
    return dict(sorted(out.items()))


def _threshold(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        number = _number(value, path)
        return {"classification": number, "regression": {tier: number for tier in TIERS}}
    for key in value:
        if key not in ("classification", "regression"):
            raise ConfigError(_unknown_key_message(f"{path}.{key}", key, {"classification": 0, "regression": 0}, path + "."),
                              key=f"{path}.{key}")
    for key in ("classification", "regression"):
        if key not in value or value[key] is None:
            raise ConfigError(f"{path}.{key}: required key is missing", key=f"{path}.{key}")
    classification = _number(value["classification"], f"{path}.classification")
    regression = value["regression"]
    if not isinstance(regression, dict):
        number = _number(regression, f"{path}.regression")
        return {"classification": classification, "regression": {tier: number for tier in TIERS}}
    for key in regression:
        if key not in TIERS:
            raise ConfigError(
                _unknown_key_message(f"{path}.regression.{key}", key, dict.fromkeys(TIERS), f"{path}.regression."),
                key=f"{path}.regression.{key}",
            )
    if regression.get("default") is None:
        raise ConfigError(f"{path}.regression.default: required key is missing", key=f"{path}.regression.default")
    default = _number(regression["default"], f"{path}.regression.default")
    tiers = {"default": default}
    for tier in TIERS[1:]:
        tiers[tier] = default if regression.get(tier) is None else _number(regression[tier], f"{path}.regression.{tier}")
    return {"classification": classification, "regression": tiers}


_VALIDATORS = {
    "count": _count,
    "bool": _bool,
    "number": _number,
    "fraction": _fraction,
    "threshold": _threshold,
    "stabilities": _stabilities,
    "both_strong": _both_strong,
    "dump_formats": _dump_formats,
    "families": _families,
    "families_by_route": _families_by_route,
}
