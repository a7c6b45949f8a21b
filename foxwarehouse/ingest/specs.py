"""What the ingest reads: the input shapes' columns, kinds, keys and ranges, the source names, the
ingest report, and the small rules every reader shares (how a column name is matched, how a bad
value is shown in a message).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..render import sql_literal
from ..vocabulary import STABILITIES

STABILITY_VALUES = STABILITIES
LEAKAGE_VALUES = ("SAFE", "SUSPECT", "BLOCKED", "UNKNOWN")
MODEL_STATUS_VALUES = ("OK", "FAILED", "SKIPPED", "UNKNOWN")
TASK_TYPE_VALUES = ("REGRESSION", "BINARY_CLASSIFICATION", "MULTICLASS_CLASSIFICATION")
MODE_VALUES = ("CROSS_SECTIONAL", "SYMBOL_SPECIFIC", "SYMBOL")
STABILITY_METRICS = ("mean_overlap", "std_overlap", "mean_tau", "std_tau")

# column -> kind; kinds: text, double, integer, boolean, text_list, or ("enum", values)
CANDIDATE_COLUMNS: dict[str, Any] = {
    "target": "text", "symbol": "text", "mode": ("enum", MODE_VALUES), "score": "double",
    "score_ci_low": "double", "score_ci_high": "double", "stability": ("enum", STABILITY_VALUES),
    "sample_size": "integer", "leakage_status": ("enum", LEAKAGE_VALUES), "feature_set_id": "text",
    "metric_name": "text", "failed_model_families": "text_list", "model_status": ("enum", MODEL_STATUS_VALUES),
    "task_type": ("enum", TASK_TYPE_VALUES), "mean_overlap": "double", "std_overlap": "double",
    "mean_tau": "double", "std_tau": "double", "n_snapshots": "integer",
}
FEATURE_SELECTION_COLUMNS: dict[str, Any] = {
    "target": "text", "symbol": "text", "score": "double", "score_ci_low": "double", "score_ci_high": "double",
    "sample_size": "integer", "task_type": ("enum", TASK_TYPE_VALUES), "metric_name": "text",
    "feature_set_id": "text", "failed_model_families": "text_list", "model_status": ("enum", MODEL_STATUS_VALUES),
}
SNAPSHOT_COLUMNS: dict[str, Any] = {
    "target": "text", "symbol": "text", "snapshot_id": "text", "overlap": "double", "tau": "double",
}
LEAKAGE_COLUMNS: dict[str, Any] = {
    "target": "text", "symbol": "text", "leakage_status": ("enum", LEAKAGE_VALUES), "quarantine_confirmed": "boolean",
}


# Stability values must be finite and in range (NaN is a missing value): column -> (low, high or None).
STABILITY_RANGES: tuple[tuple[str, float, float | None], ...] = (
    ("mean_overlap", 0.0, 1.0), ("std_overlap", 0.0, None), ("mean_tau", -1.0, 1.0), ("std_tau", 0.0, None),
)
# A snapshot's overlap is a Jaccard index and its tau a Kendall tau.
SNAPSHOT_RANGES: tuple[tuple[str, float, float | None], ...] = (("overlap", 0.0, 1.0), ("tau", -1.0, 1.0))


@dataclass(frozen=True)
class InputSpec:
    name: str                 # logical source name
    table: str                # warehouse table
    columns: dict[str, Any]
    required: tuple[str, ...]
    keyed: bool               # one row per key: (target, symbol) plus key_extra
    key_extra: tuple[str, ...] = ()
    ranges: tuple[tuple[str, float, float | None], ...] = ()


CANDIDATES = InputSpec("routing_candidates", "source_routing_candidates", CANDIDATE_COLUMNS,
                       ("target", "score", "sample_size"), True, ranges=STABILITY_RANGES)
FEATURE_SELECTION = InputSpec("feature_selection", "source_feature_selection", FEATURE_SELECTION_COLUMNS,
                              ("target", "score", "sample_size"), True)
# A snapshot row without a snapshot_id has no key to repeat (like NULL in a SQL UNIQUE key).
SNAPSHOTS = InputSpec("stability_snapshots", "source_stability_snapshots", SNAPSHOT_COLUMNS,
                      ("target", "overlap", "tau"), True, ("snapshot_id",), SNAPSHOT_RANGES)
LEAKAGE = InputSpec("leakage", "source_leakage", LEAKAGE_COLUMNS, ("target", "leakage_status"), True)

MAX_SHOWN = 5

# Target and symbol are keys: a CSV written with ", " separators must mean the same as one without,
# and the raw files must join on the same names. White space is Unicode's White_Space set (tabs,
# line breaks, no-break and wide spaces); unlike Python's str.strip() it leaves the ASCII
# separator controls 0x1C-0x1F alone, which are not spacing and may be part of a name.
WHITESPACE = "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
TRIMMED_NAMES = ("target", "symbol", "snapshot_id")


# trim(x, characters) costs ~1.5 s per million values in DuckDB, while almost no name has white
# space around it: a regular expression (RE2, per code point) finds the few that do, and only
# those are trimmed. The result is trim(x, WHITESPACE) for every value, NULL included.
_WHITESPACE_CLASS = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in WHITESPACE) + "]"
_EDGE_WHITESPACE = sql_literal(f"^{_WHITESPACE_CLASS}|{_WHITESPACE_CLASS}$")


def trim_names(expr: str) -> str:
    """SQL that trims surrounding white space off a text expression."""
    return (f"(CASE WHEN regexp_matches({expr}, {_EDGE_WHITESPACE}) "
            f"THEN trim({expr}, {sql_literal(WHITESPACE)}) ELSE {expr} END)")


@dataclass
class IngestReport:
    run_id: str
    input_path: str
    input_shape: str
    input_fingerprint: str
    files: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def totals(self) -> dict[str, int]:
        out = {"rows_read": 0, "cs_rows": 0, "symbol_rows": 0, "aggregate_rows_skipped": 0}
        for name in ("routing_candidates", "feature_selection"):
            for key in out:
                out[key] += self.files.get(name, {}).get(key, 0)
        return out

    def lines(self) -> list[str]:
        out = []
        for name, counts in self.files.items():
            details = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items())
            out.append(f"ingest: {name}: {details}")
        return out


SOURCE_NAMES = ("routing_candidates", "feature_selection", "stability_snapshots", "leakage")
RAW_SOURCES = SOURCE_NAMES[1:]


def column_key(name: str) -> str:
    """How a column (or struct field) name is matched: case-insensitively, without surrounding spaces or a BOM."""
    return name.strip().lower().lstrip("\ufeff")



def show_value(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def literal_file(path: object) -> str:
    """`path` as DuckDB's file readers take it literally. They expand ``*``, ``?`` and ``[...]`` as a
    glob, so a folder named ``set[ab]`` would be read as ``seta/`` and ``star*`` together with
    ``starA/``; each such character is written as a one-character class (``[*]``) instead."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in str(path))
