"""Routing config: loading, validation (the keys and values docs/ROUTING.md describes), defaults, and the config hash.

The validated config is a plain dict in canonical form: every key present, every THRESHOLD
expanded to ``{"classification": N, "regression": {"default": .., "short": .., ...}}``, enum values
upper-cased. Models read it through the ``config`` template variable.

The file is read by ``yaml_loader`` (YAML 1.2 values, duplicate keys and ambiguous YAML 1.1 forms
reported by dotted key, bounded size, depth and alias expansion); its problems are reported with
the validation's, all at once.
"""
from __future__ import annotations

import copy
import difflib
import functools
import hashlib
import json
import math
import os
import re
import reprlib
import stat
import warnings
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .vocabulary import ROUTES, STABILITIES
from .yaml_loader import YamlLimitError, YamlProblem, load_yaml

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

#: Bounds of a config file: a routing config is a few kilobytes and a handful of levels deep, so
#: anything far beyond is refused before it is built (an alias bomb, a 50,000-deep file).
MAX_CONFIG_BYTES = 1_000_000
MAX_CONFIG_DEPTH = 32
MAX_CONFIG_VALUES = 10_000
#: The largest whole number a count may be: the SQL compares counts with BIGINT columns.
MAX_COUNT = 2 ** 63 - 1
#: A horizon regex matches a target name's suffix; FoxML's are a dozen characters.
MAX_REGEX_CHARS = 1_000
#: Horizons are minutes: a multiplier (minutes per unit) and a special text's minutes are bounded so
#: a horizon stays a finite, sensible number (a year is 525,600 minutes).
MAX_HORIZON_MULTIPLIER = 525_600_000
MAX_HORIZON_MINUTES = 10 ** 12

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
        # also the jobs as parquet partitioned by target (for very large plans); absent = off, and
        # off leaves the validated config (so its hash and the plan files) as without the key
        "jobs_parquet": ("bool", _OMITTED),
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
    raw, yaml_problems = _read_config_file(path)
    try:
        return _validate(raw, overrides, yaml_problems)
    except ConfigProblems as exc:
        raise ConfigProblems(f"{path}: {exc.message}", exc.problems, path=path, key=exc.key) from None
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc.message}", path=path, key=exc.key) from None


def read_config_file(path: str | Path) -> Any:
    """The mapping a config file holds, unvalidated ({} when empty), read as ``load_config`` reads
    it: a file whose YAML is not read, or that has a duplicate key or an ambiguous YAML 1.1 value,
    raises ConfigError (for callers that validate it later with overrides, such as SQL unit tests)."""
    path = Path(path)
    raw, problems = _read_config_file(path)
    if problems:
        raise ConfigError(f"{path}: {_combined(problems, None).message}", path=path, key=problems[0].key)
    return raw


def _read_config_file(path: Path) -> tuple[Any, list[ConfigError]]:
    """The YAML data of a config file ({} when empty) and its YAML problems (duplicate keys,
    ambiguous values), each a ConfigError naming the dotted key; an unreadable file raises."""
    try:
        # Opened without blocking and checked to be a file: a FIFO without a writer would wait forever.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with open(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise ConfigError(f"config file {path} is not a regular file (a folder, pipe or device)", path=path)
            data = fh.read(MAX_CONFIG_BYTES + 1)  # never more: a config is small
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}", path=path) from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is not a regular file (a folder, pipe or device)", path=path) from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror or exc}", path=path) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path} is more than {MAX_CONFIG_BYTES:,} bytes; a routing config is at most "
                          f"that (is this the right file?)", path=path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(f"config file {path} cannot be read: it is not UTF-8 text (byte 0x{data[exc.start]:02x} "
                          f"at line {line}, column {column})", path=path, line=line, column=column) from None
    try:
        doc = load_yaml(text, max_depth=MAX_CONFIG_DEPTH, max_values=MAX_CONFIG_VALUES)
    except YamlLimitError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}", path=path,
                          line=exc.line, column=exc.column) from None
    raw = {} if doc.data is None else doc.data
    return raw, [_yaml_problem(p) for p in doc.problems if not _ignored(p.path)]


def _yaml_problem(problem: YamlProblem) -> ConfigError:
    where = _clip(problem.path) if problem.path else "config"
    return ConfigError(f"{where}: {problem.message}", key=problem.path or None, line=problem.line)


def _ignored(dotted: str) -> bool:
    """A value under a FoxML-only key: accepted whatever it is."""
    return any(dotted == key or dotted.startswith((key + ".", key + "[")) for key in FOXML_ONLY_KEYS)


def validate_config(raw: Any, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Validate a config mapping; `overrides` maps dotted keys to values applied first.

    Notices are emitted as UserWarnings; ``validate_config_with_notices`` returns them instead.
    """
    validated, notices = validate_config_with_notices(raw, overrides)
    _emit(notices)
    return validated


class ConfigProblems(ConfigError):
    """Every problem of one config at once: ``problems`` holds one ConfigError per dotted key.

    The message lists them (up to MAX_PROBLEMS) on one line, separated by "; "; ``key`` is the first one's key.
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
    return _validate(raw, overrides, [])


def _validate(raw: Any, overrides: dict[str, Any] | None, yaml_problems: list[ConfigError]
              ) -> tuple[dict[str, Any], list[str]]:
    """validate_config_with_notices, with the YAML problems of the file it came from (reported
    first; a validation problem of the same key is left out: it is the same mistake)."""
    deep = _too_deep(raw, MAX_CONFIG_DEPTH)
    if deep is not None:
        raise ConfigError(f"{_clip(deep) or 'config'}: nests deeper than {MAX_CONFIG_DEPTH} levels "
                          f"(or refers to itself); a routing config is a few levels deep", key=deep or None)
    raw = copy.deepcopy(raw)
    foreign = _not_a_routing_config(raw)
    if not isinstance(raw, dict):
        raise ConfigError(f"not a routing config: {foreign}")
    for dotted, value in (overrides or {}).items():
        _set_dotted(raw, dotted, value)
    notices: list[str] = []
    problems: list[ConfigError] = []
    validated = _validate_section(raw, SCHEMA, "", notices, problems)
    plan_section = validated.get("training_plan")
    if isinstance(plan_section, dict) and plan_section.get("jobs_parquet") is False:
        del plan_section["jobs_parquet"]   # written off is the same config as absent
    _check_families(validated, notices)
    routing = validated.get("routing")
    if (isinstance(routing, dict) and routing.get("enable_experimental_lane") is True
            and isinstance(routing.get("experimental"), dict) and routing["experimental"].get("min_score") is None
            and not any(p.key == "routing.experimental.min_score" for p in problems)):
        problems.append(ConfigError(
            "routing.experimental.min_score: required when routing.enable_experimental_lane is true",
            key="routing.experimental.min_score",
        ))
    if yaml_problems:
        problems = yaml_problems + [p for p in problems if not any(_same_key(p.key, y.key) for y in yaml_problems)]
    if foreign is not None or problems:
        raise _combined(problems, foreign)
    return validated, notices


def _same_key(key: str | None, yaml_key: str | None) -> bool:
    """`key` is `yaml_key` or inside it (or `yaml_key` is inside `key`, e.g. a threshold's part)."""
    if not key or not yaml_key:
        return False
    inside = (yaml_key + ".", yaml_key + "[")
    return key == yaml_key or key.startswith(inside) or yaml_key.startswith((key + ".", key + "["))


def _too_deep(raw: Any, limit: int) -> str | None:
    """The dotted path where `raw` nests deeper than `limit` (or holds itself), else None. Iterative:
    a mapping a library caller builds 50,000 levels deep must not end in RecursionError."""
    todo: list[tuple[Any, str, int, frozenset[int]]] = [(raw, "", 0, frozenset())]
    while todo:
        value, path, depth, parents = todo.pop()
        if not isinstance(value, (dict, list)):
            continue
        if depth >= limit or id(value) in parents:
            return path
        inner = parents | {id(value)}
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in items:
            if isinstance(child, (dict, list)):
                where = f"{path}[{key}]" if isinstance(value, list) else (f"{path}.{key}" if path else str(key))
                todo.append((child, where, depth + 1, inner))
    return None


def _check_families(validated: dict[str, Any], notices: list[str]) -> None:
    """An empty training_plan.model_families with no route given families of its own drops every
    CS and symbol job. That is a valid config (the plan counts them in skipped_no_families), but
    hardly ever meant, so it is said out loud: a warning here, and `plan` prints the skipped count."""
    plan = validated.get("training_plan")
    if not isinstance(plan, dict) or plan.get("model_families") != []:
        return
    if any(plan.get("model_families_by_route", {}).values()):
        return  # the routes given families still plan; the others are counted as skipped
    notices.append("config key training_plan.model_families is empty and no route has families in "
                   "training_plan.model_families_by_route: every job is dropped (counted as skipped_no_families)")


def _combined(problems: list[ConfigError], foreign: str | None) -> ConfigError:
    """One error for all problems: a single problem keeps its own message."""
    key = problems[0].key if problems else None
    if foreign is None and len(problems) == 1:
        return ConfigProblems(problems[0].message, problems, key=key)
    count = len(problems)
    noun = f"{count} problem{'s' if count != 1 else ''}"
    missing = [p.key or "" for p in problems if ": required" in p.message]
    if foreign is not None and problems and len(missing) == count:
        # Not a routing config and nothing in it but absent keys: one line says both.
        return ConfigProblems(f"not a routing config: {foreign}; required key is missing: {_clip(', '.join(missing))}",
                              problems, key=key)
    if foreign is not None:
        head = f"not a routing config: {foreign}" + (f"; {noun}:" if problems else "")
    else:
        head = f"config has {noun}:"
    # One line (a command's error is one line), the problems separated by "; ".
    shown = [p.message for p in problems[:MAX_PROBLEMS]]
    if count > MAX_PROBLEMS:
        shown.append(f"... and {count - MAX_PROBLEMS} more")
    return ConfigProblems(f"{head} {'; '.join(shown)}" if shown else head.rstrip(":"), problems, key=key)


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
        if not isinstance(key, str):
            where = path.rstrip(".") or "config"
            problems.append(ConfigError(
                f"{where}: the key {_key_shown(key)} ({_type_name(key)}) is not text; known keys here: "
                f"{', '.join(str(k) for k in schema)}", key=dotted))
            continue
        if key not in schema:
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
    """At most `limit` characters of `text`, control characters escaped (a message is one line)."""
    text = text[:limit + 1]
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 3, VALUE_SHOWN, VALUE_SHOWN
_REPR.maxlist = _REPR.maxdict = _REPR.maxtuple = _REPR.maxset = 10
_REPR.maxlong = 60


def _shown(value: Any) -> str:
    """A value as a message quotes it: its repr, at most VALUE_SHOWN characters. Bounded while it
    is made (a huge or deeply nested value is never turned into text whole)."""
    try:
        return _clip(_REPR.repr(value))
    except ValueError:  # an int beyond Python's digit limit for str()
        return f"<a {type(value).__name__} too long to show>"


def _key_shown(key: Any) -> str:
    return "null" if key is None else ("true" if key is True else "false" if key is False else _shown(key))


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
        raise ConfigError(f"{path}: must be >= 0, got {_shown(value)}", key=path)
    if value > MAX_COUNT:
        raise ConfigError(f"{path}: must be at most {MAX_COUNT} (the largest BIGINT), got {_shown(value)}", key=path)
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
        where = f"{path}.{_clip(str(route), 80)}"  # the key is quoted in messages: clipped like a value
        norm = _enum(route, where, ROUTES)
        out[norm] = _families(families, where)
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
        multiplier = 1.0 if item.get("multiplier") is None else attempt(_multiplier, item["multiplier"], f"{where}.multiplier")
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
        where = f"{path}.special.{_clip(str(text), 80)}"
        if not isinstance(text, str) or not text or "\x00" in text:
            problems.append(ConfigError(f"{_clip(where)}: expected a non-empty text, got {_shown(text)}", key=where))
            continue
        number = attempt(_number, minutes, where)
        if number is not None and not 0 <= number <= MAX_HORIZON_MINUTES:
            problems.append(ConfigError(f"{_clip(where)}: minutes must be in [0, {MAX_HORIZON_MINUTES:,}], got "
                                        f"{_shown(minutes)}", key=where))
        elif number is not None:
            special.append({"text": text, "minutes": number})
    bare = value.get("bare_number_suffix")
    bare = HORIZON_DEFAULT_BARE_NUMBER if bare is None else attempt(
        _regex, bare, f"{path}.bare_number_suffix", case_insensitive)
    if problems:
        raise ConfigProblems(problems[0].message, problems, key=problems[0].key)
    return {"patterns": patterns, "special": special, "case_insensitive": case_insensitive, "bare_number_suffix": bare}


def _multiplier(value: Any, path: str) -> float:
    """Minutes per unit of a horizon pattern: > 0, and at most a year's worth per unit times a thousand
    (a horizon in minutes must stay a finite number in the plan)."""
    number = _positive(value, path)
    if number > MAX_HORIZON_MULTIPLIER:
        raise ConfigError(f"{path}: must be at most {MAX_HORIZON_MULTIPLIER:,} (minutes per unit), got {_shown(value)}",
                          key=path)
    return number


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
    if len(value) > MAX_REGEX_CHARS:
        raise ConfigError(f"{path}: {shown} is {len(value):,} characters long; a horizon regex is at most "
                          f"{MAX_REGEX_CHARS:,}", key=path)
    try:
        compiled = re.compile(value, re.IGNORECASE if case_insensitive else 0)
    except re.error as exc:
        raise ConfigError(f"{path}: {shown} is not a valid regular expression: {exc}", key=path) from None
    except (RecursionError, OverflowError, MemoryError):  # groups nested hundreds deep
        raise ConfigError(f"{path}: {shown} nests too deeply to compile", key=path) from None
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
