"""Routing config: loading, validation (the keys and values docs/ROUTING.md describes), defaults, and the config hash.

The validated config is a plain dict in canonical form: every key present, every THRESHOLD
expanded to ``{"classification": N, "regression": {"default": .., "short": .., ...}}``, enum values
upper-cased. Models read it through the ``config`` template variable.
"""
from __future__ import annotations

import copy
import difflib
import functools
import hashlib
import json
import math
import re
import warnings
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .vocabulary import ROUTES, STABILITIES

BOTH_STRONG_BEHAVIORS = ("ROUTE_BOTH", "PREFER_CS", "PREFER_SYMBOL")
DUMP_FORMATS = ("JSON", "YAML", "MARKDOWN")
TIERS = ("default", "short", "medium", "long", "very_long")

# Keys of FoxML's routing configs (CONFIG/pipeline/training/routing.yaml, CONFIG/routing/default.yaml,
# and the keys FoxML's code reads from that section) that foxwarehouse does not use: accepted with one
# warning each, whatever their value. FoxML's view selection and its legacy aliases, its auto dev mode,
# the aggregator's mode fallback, its feature-safety and family-failure rules, and its logging switch.
FOXML_ONLY_KEYS = {
    "routing.view_policy",
    "routing.requested_view",
    "routing.mode_policy",            # legacy alias of view_policy
    "routing.requested_mode",         # legacy alias of requested_view
    "routing.auto_flip_min_symbols",
    "routing.auto_dev_mode_threshold",
    "routing.allow_mode_fallback",
    "routing.require_safe_features_only",
    "routing.allowed_feature_leakage_status",
    "routing.require_min_successful_families",
    "routing.log_decision_reasons",
}

#: At most this many problems of one config are listed; a message quotes at most VALUE_SHOWN
#: characters of a value; an unknown key is given a suggestion only this close (difflib ratio).
MAX_PROBLEMS = 20
VALUE_SHOWN = 200
SUGGESTION_CUTOFF = 0.8

# routing.horizon_extraction (FoxML's block of CONFIG/data/excluded_features.yaml, pasted as is):
# what a key left out of the block means. Without the block, the built-in rule of the horizon
# macro applies and the validated config has no horizon_extraction key (so its hash is unchanged).
HORIZON_DEFAULT_PATTERNS = [
    {"regex": r"(\d+)m", "multiplier": 1},
    {"regex": r"(\d+)h", "multiplier": 60},
    {"regex": r"(\d+)d", "multiplier": 1440},
]
HORIZON_DEFAULT_SPECIAL = {"same_day": 390}
HORIZON_DEFAULT_BARE_NUMBER = r"fwd_ret_(\d+)$"
HORIZON_KEYS = ("patterns", "special", "case_insensitive", "bare_number_suffix")

_REQUIRED = object()
_OMITTED = object()  # an optional section: absent from the validated config when not given

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
        "horizon_extraction": ("horizon_extraction", _OMITTED),
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
    except ConfigProblems as exc:
        raise ConfigProblems(f"{path}: {exc.message}", exc.problems, path=path, key=exc.key) from None
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc.message}", path=path, key=exc.key) from None


def validate_config(raw: Any, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Validate a config mapping; `overrides` maps dotted keys to values applied first.

    Notices are emitted as UserWarnings; ``validate_config_with_notices`` returns them instead.
    """
    validated, notices = validate_config_with_notices(raw, overrides)
    _emit(notices)
    return validated


class ConfigProblems(ConfigError):
    """Every problem of one config at once: ``problems`` holds one ConfigError per dotted key.

    The message lists them (up to MAX_PROBLEMS), one per line; ``key`` is the first one's key.
    """

    def __init__(self, message: str, problems: list[ConfigError], **fields: Any):
        super().__init__(message, **fields)
        self.problems = list(problems)


def validate_config_with_notices(raw: Any, overrides: dict[str, Any] | None = None
                                 ) -> tuple[dict[str, Any], list[str]]:
    """Validate a config mapping: (the validated config, its notices such as FoxML-only keys).

    Every problem is collected before anything is raised, so one error lists them all. A mapping
    that is not a routing config at all (no `routing` section, or one of another kind of config,
    such as FoxML's router thresholds) says so on its first line.
    """
    raw = copy.deepcopy(raw)
    foreign = _not_a_routing_config(raw)
    if not isinstance(raw, dict):
        raise ConfigError(f"not a routing config: {foreign}")
    for dotted, value in (overrides or {}).items():
        _set_dotted(raw, dotted, value)
    notices: list[str] = []
    problems: list[ConfigError] = []
    validated = _validate_section(raw, SCHEMA, "", notices, problems)
    routing = validated.get("routing")
    if (isinstance(routing, dict) and routing.get("enable_experimental_lane") is True
            and isinstance(routing.get("experimental"), dict) and routing["experimental"].get("min_score") is None
            and not any(p.key == "routing.experimental.min_score" for p in problems)):
        problems.append(ConfigError(
            "routing.experimental.min_score: required when routing.enable_experimental_lane is true",
            key="routing.experimental.min_score",
        ))
    if foreign is not None or problems:
        raise _combined(problems, foreign)
    return validated, notices


def _combined(problems: list[ConfigError], foreign: str | None) -> ConfigError:
    """One error for all problems: a single problem keeps its own message."""
    key = problems[0].key if problems else None
    if foreign is None and len(problems) == 1:
        return ConfigProblems(problems[0].message, problems, key=key)
    count = len(problems)
    noun = f"{count} problem{'s' if count != 1 else ''}"
    if foreign is not None:
        head = f"not a routing config: {foreign}" + (f"; {noun}:" if problems else "")
    else:
        head = f"config has {noun}:"
    lines = [head] + [f"  {p.message}" for p in problems[:MAX_PROBLEMS]]
    if count > MAX_PROBLEMS:
        lines.append(f"  ... and {count - MAX_PROBLEMS} more")
    return ConfigProblems("\n".join(lines), problems, key=key)


def _not_a_routing_config(raw: Any) -> str | None:
    """Why `raw` is not a routing config at all, or None when it is one (valid or not)."""
    if not isinstance(raw, dict):
        return f"a routing config must be a mapping with a 'routing' section, got {_type_name(raw)}"
    if not raw:
        return "it is empty; expected a 'routing' section"
    if "routing" not in raw:
        keys = ", ".join(str(k) for k in raw)
        return f"it has no 'routing' section (its top-level keys: {_clip(keys)})"
    routing = raw["routing"]
    if not isinstance(routing, dict) or not routing:
        return f"its 'routing' section is {_type_name(routing) if routing is not None else 'empty'}, not a mapping of routing settings"
    if "cross_sectional" in routing or "symbol" in routing:
        return None
    others = [str(k) for k in routing if k not in SCHEMA["routing"] and f"routing.{k}" not in FOXML_ONLY_KEYS]
    if others:
        return (f"its 'routing' section has no score thresholds (routing.cross_sectional, routing.symbol) and "
                f"keys of another kind of config ({_clip(', '.join('routing.' + k for k in others))})")
    return None


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


def _validate_section(raw: Any, schema: dict[str, Any], path: str, notices: list[str],
                      problems: list[ConfigError]) -> dict[str, Any]:
    """The validated section; each problem is appended to `problems` (validation goes on)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        where = path.rstrip(".") or "config"
        problems.append(ConfigError(f"{where}: expected a mapping, got {_type_name(raw)} {_shown(raw)}",
                                    key=path.rstrip(".") or None))
        return {}
    out: dict[str, Any] = {}
    for key in raw:
        dotted = f"{path}{key}"
        if not isinstance(key, str) or key not in schema:
            if dotted in FOXML_ONLY_KEYS:
                notices.append(f"config key {dotted} is not used by foxwarehouse (a FoxML key; ignored)")
                continue
            foxml_here = [k.rsplit(".", 1)[1] for k in sorted(FOXML_ONLY_KEYS) if k.rsplit(".", 1)[0] + "." == path]
            problems.append(ConfigError(_unknown_key_message(dotted, key, schema, path, foxml_here), key=dotted))
    for key, spec in schema.items():
        dotted = f"{path}{key}"
        if isinstance(spec, dict):
            out[key] = _validate_section(raw.get(key), spec, dotted + ".", notices, problems)
            continue
        kind, default = spec
        if key not in raw or raw[key] is None:
            if default is _REQUIRED:
                problems.append(ConfigError(f"{dotted}: required key is missing", key=dotted))
            elif default is not _OMITTED:
                out[key] = copy.deepcopy(default)
            continue
        try:
            out[key] = _VALIDATORS[kind](raw[key], dotted)
        except ConfigProblems as exc:
            problems.extend(exc.problems)
        except ConfigError as exc:
            problems.append(exc)
    return out


def _unknown_key_message(dotted: str, key: Any, schema: dict[str, Any], path: str,
                         also_known: list[str] | None = None) -> str:
    """'KEY: unknown config key' with the nearest known key when it is close, else the known keys."""
    known = [str(k) for k in schema]
    close = difflib.get_close_matches(str(key), known + list(also_known or []), n=1, cutoff=SUGGESTION_CUTOFF)
    hint = f"; did you mean {path}{close[0]}?" if close else f"; known keys here: {', '.join(known)}"
    return f"{_clip(dotted)}: unknown config key{hint}"


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _clip(text: str, limit: int = VALUE_SHOWN) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _shown(value: Any) -> str:
    """A value as a message quotes it: its repr, at most VALUE_SHOWN characters."""
    return _clip(repr(value))


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{path}: expected a number, got {_type_name(value)} {_shown(value)}", key=path)
    if not math.isfinite(value):
        raise ConfigError(f"{path}: expected a finite number, got {_shown(value)}", key=path)
    return float(value)


def _count(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ConfigError(f"{path}: expected a whole number, got {_type_name(value)} {_shown(value)}", key=path)
    if value < 0:
        raise ConfigError(f"{path}: must be >= 0, got {value}", key=path)
    return value


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{path}: expected true or false, got {_type_name(value)} {_shown(value)}", key=path)
    return value


def _fraction(value: Any, path: str) -> float:
    number = _number(value, path)
    if not 0.0 <= number <= 1.0:
        raise ConfigError(f"{path}: must be a fraction in [0, 1], got {_shown(value)}", key=path)
    return number


def _enum(value: Any, path: str, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{path}: expected one of {', '.join(allowed)}, got {_type_name(value)} {_shown(value)}", key=path)
    norm = value.strip().upper()
    if norm not in allowed:
        close = difflib.get_close_matches(norm, allowed, n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(f"{path}: {_shown(value)} is not one of {', '.join(allowed)}{hint}", key=path)
    return norm


def _enum_list(value: Any, path: str, allowed: tuple[str, ...]) -> list[str]:
    if isinstance(value, str) or not isinstance(value, list):
        raise ConfigError(f"{path}: expected a list, got {_type_name(value)} {_shown(value)}", key=path)
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
        raise ConfigError(f"{path}: expected a list of model family names, got {_type_name(value)} {_shown(value)}", key=path)
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise ConfigError(f"{path}[{index}]: expected a non-empty family name, got {_shown(item)}", key=f"{path}[{index}]")
        if "\x00" in item:
            raise ConfigError(f"{path}[{index}]: a family name may not contain a NUL character, got {_shown(item)}", key=f"{path}[{index}]")
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


def _horizon_extraction(value: Any, path: str) -> dict[str, Any]:
    """FoxML's horizon_extraction block: patterns (regex + multiplier, in order), special texts
    (a name containing one has that horizon, checked first), case_insensitive, bare_number_suffix.

    A key left out means what FoxML's resolver does without it. Each regex must compile in Python
    and in DuckDB's RE2 (the SQL runs it) and have a capturing group (group 1 is the number).
    """
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: expected a mapping with patterns (and optionally special, case_insensitive, "
                          f"bare_number_suffix), got {_type_name(value)} {_shown(value)}", key=path)
    problems: list[ConfigError] = []
    for key in value:
        if key not in HORIZON_KEYS:
            dotted = f"{path}.{key}"
            problems.append(ConfigError(_unknown_key_message(dotted, key, dict.fromkeys(HORIZON_KEYS), f"{path}."),
                                        key=dotted))

    def attempt(check: Any, *args: Any) -> Any:
        try:
            return check(*args)
        except ConfigError as exc:
            problems.append(exc)
            return None

    case_insensitive = True
    if value.get("case_insensitive") is not None:
        case_insensitive = bool(attempt(_bool, value["case_insensitive"], f"{path}.case_insensitive"))
    patterns: list[dict[str, Any]] = []
    raw_patterns = value.get("patterns")
    if raw_patterns is None:
        raw_patterns = HORIZON_DEFAULT_PATTERNS
    if isinstance(raw_patterns, str) or not isinstance(raw_patterns, list):
        problems.append(ConfigError(f"{path}.patterns: expected a list of {{regex, multiplier}} mappings, got "
                                    f"{_type_name(raw_patterns)} {_shown(raw_patterns)}", key=f"{path}.patterns"))
        raw_patterns = []
    elif not raw_patterns:
        problems.append(ConfigError(f"{path}.patterns: is empty; give at least one {{regex, multiplier}} (or leave "
                                    f"the key out for the m, h, d patterns)", key=f"{path}.patterns"))
    for index, item in enumerate(raw_patterns):
        where = f"{path}.patterns[{index}]"
        if not isinstance(item, dict):
            problems.append(ConfigError(f"{where}: expected a mapping with regex and multiplier, got "
                                        f"{_type_name(item)} {_shown(item)}", key=where))
            continue
        for key in item:
            if key not in ("regex", "multiplier"):
                problems.append(ConfigError(_unknown_key_message(f"{where}.{key}", key, {"regex": 0, "multiplier": 0},
                                                                 f"{where}."), key=f"{where}.{key}"))
        if item.get("regex") is None:
            problems.append(ConfigError(f"{where}.regex: required key is missing", key=f"{where}.regex"))
            regex = None
        else:
            regex = attempt(_regex, item["regex"], f"{where}.regex", case_insensitive)
        multiplier = 1.0 if item.get("multiplier") is None else attempt(_positive, item["multiplier"], f"{where}.multiplier")
        if regex is not None and multiplier is not None:
            patterns.append({"regex": regex, "multiplier": multiplier})
    special: list[dict[str, Any]] = []
    raw_special = value.get("special")
    if raw_special is None:
        raw_special = HORIZON_DEFAULT_SPECIAL
    if not isinstance(raw_special, dict):
        problems.append(ConfigError(f"{path}.special: expected a mapping of name text to minutes "
                                    f"(e.g. {{same_day: 390}}), got {_type_name(raw_special)} {_shown(raw_special)}",
                                    key=f"{path}.special"))
        raw_special = {}
    for text, minutes in raw_special.items():
        where = f"{path}.special.{text}"
        if not isinstance(text, str) or not text or "\x00" in text:
            problems.append(ConfigError(f"{_clip(where)}: expected a non-empty text, got {_shown(text)}", key=where))
            continue
        number = attempt(_number, minutes, where)
        if number is not None and number < 0:
            problems.append(ConfigError(f"{_clip(where)}: minutes must be >= 0, got {_shown(minutes)}", key=where))
        elif number is not None:
            special.append({"text": text, "minutes": number})
    bare = value.get("bare_number_suffix")
    bare = HORIZON_DEFAULT_BARE_NUMBER if bare is None else attempt(
        _regex, bare, f"{path}.bare_number_suffix", case_insensitive)
    if problems:
        raise ConfigProblems(problems[0].message, problems, key=problems[0].key)
    return {"patterns": patterns, "special": special, "case_insensitive": case_insensitive, "bare_number_suffix": bare}


def _positive(value: Any, path: str) -> float:
    number = _number(value, path)
    if number <= 0:
        raise ConfigError(f"{path}: must be a number > 0, got {_shown(value)}", key=path)
    return number


def _regex(value: Any, path: str, case_insensitive: bool) -> str:
    """A horizon regex: text that compiles (Python and DuckDB's RE2) with a capturing group."""
    if not isinstance(value, str):
        raise ConfigError(f"{path}: expected a regular expression (text), got {_type_name(value)} {_shown(value)}", key=path)
    if not value or "\x00" in value:
        raise ConfigError(f"{path}: expected a non-empty regular expression without NUL, got {_shown(value)}", key=path)
    shown = f"'{_clip(value)}'"  # as written in the YAML, not as a Python repr with doubled backslashes
    try:
        compiled = re.compile(value, re.IGNORECASE if case_insensitive else 0)
    except re.error as exc:
        raise ConfigError(f"{path}: {shown} is not a valid regular expression: {exc}", key=path) from None
    if compiled.groups < 1:
        raise ConfigError(f"{path}: {shown} has no capturing group; the number is read from group 1, "
                          f"e.g. '(\\d+)m'", key=path)
    problem = _re2_problem(horizon_regex_sql(value, case_insensitive))
    if problem:
        raise ConfigError(f"{path}: {shown} is not a regular expression DuckDB can run: {_clip(problem)}", key=path)
    return value


def horizon_regex_sql(regex: str, case_insensitive: bool) -> str:
    """The pattern the horizon macro passes to DuckDB (RE2): `(?i)` in front for case-insensitive."""
    return f"(?i){regex}" if case_insensitive else regex


@functools.lru_cache(maxsize=256)
def _re2_problem(pattern: str) -> str | None:
    """DuckDB's complaint about a regex (RE2 lacks look-around and backreferences), or None."""
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        con.execute("SELECT regexp_matches('', ?), regexp_extract('', ?, 1)", [pattern, pattern])
    except duckdb.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    finally:
        con.close()
    return None


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
    "horizon_extraction": _horizon_extraction,
}
