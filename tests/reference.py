"""An independent, plain-Python reading of the routing contract: what a candidate row means (row
normalisation), the config's threshold shapes, the routing rules and the job expansion, written
from the rules as docs/ROUTING.md states them, without looking at the SQL. The property test
checks that the SQL pipeline agrees with it exactly.

Input: candidate rows as written to a routing-candidates file (dicts; a missing key is null) and
the raw config mapping as written to YAML (the config defaults apply to absent keys).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Mapping, Sequence

OK = ("STRONG", "WEAK_BUT_OK")
TIERS = ("short", "medium", "long", "very_long")
DISALLOW_CODES = ("SCORE_MISSING", "SAMPLE_SIZE", "LEAKAGE_BLOCKED", "SCORE_BELOW_MIN",
                  "STABILITY_NOT_ALLOWED", "NO_CS_METRICS")

DEFAULTS: dict[str, Any] = {
    "min_sample_size": {"cross_sectional": 5000, "symbol": 1000},
    "block_on_leakage": True,
    "dev_mode": False,
    "dev_mode_min_sample_size": 1000,
    "stability_allowlist": {"cross_sectional": ["STABLE", "DRIFTING", "UNKNOWN"], "symbol": ["STABLE", "UNKNOWN"]},
    "both_strong_behavior": "ROUTE_BOTH",
    "enable_experimental_lane": True,
    "experimental": {"min_score": None, "allowed_stabilities": ["DRIFTING", "UNKNOWN"],
                     "max_fraction_symbols_per_target": 0.2},
    "stability_classification": {
        "stable_overlap_min": 0.70, "drifting_overlap_min": 0.50, "stable_tau_min": 0.60, "drifting_tau_min": 0.40,
        "max_std_overlap": 0.20, "max_std_tau": 0.25, "min_snapshots_for_stability": 2,
    },
}
TP_DEFAULTS: dict[str, Any] = {
    "model_families": ["lightgbm", "xgboost"],
    "model_families_by_route": {},
    "drop_failed_families": True,
    "include_blocked": False,
}


def _get(mapping: Mapping[str, Any] | None, key: str, default: Any) -> Any:
    if not mapping or mapping.get(key) is None:
        return default
    return mapping[key]


def _section(raw: Mapping[str, Any], key: str, defaults: Mapping[str, Any]) -> dict[str, Any]:
    given = raw.get(key) or {}
    return {k: _get(given, k, v) for k, v in defaults.items()}


@dataclass
class Config:
    raw: Mapping[str, Any]
    include_blocked_flag: bool = False

    def __post_init__(self) -> None:
        r = self.raw.get("routing") or {}
        tp = self.raw.get("training_plan") or {}
        self.min_n = _section(r, "min_sample_size", DEFAULTS["min_sample_size"])
        self.block_on_leakage = _get(r, "block_on_leakage", True)
        self.dev_mode = _get(r, "dev_mode", False)
        self.dev_min = _get(r, "dev_mode_min_sample_size", 1000)
        self.thresholds = {
            "cs": {"min": r["cross_sectional"]["min_score"], "strong": r["cross_sectional"]["strong_score"]},
            "symbol": {"min": r["symbol"]["min_score"], "strong": r["symbol"]["strong_score"]},
        }
        allow = _section(r, "stability_allowlist", DEFAULTS["stability_allowlist"])
        self.allowlist = {"cs": [norm(s) for s in allow["cross_sectional"]],
                          "symbol": [norm(s) for s in allow["symbol"]]}
        self.both = norm(_get(r, "both_strong_behavior", "ROUTE_BOTH"))
        self.lane = _get(r, "enable_experimental_lane", True)
        exp = _section(r, "experimental", DEFAULTS["experimental"])
        self.exp_min = exp["min_score"]
        self.exp_stabilities = [norm(s) for s in exp["allowed_stabilities"]]
        self.fraction = exp["max_fraction_symbols_per_target"]
        self.sc = _section(r, "stability_classification", DEFAULTS["stability_classification"])
        self.families = _get(tp, "model_families", TP_DEFAULTS["model_families"])
        self.by_route = {norm(k): v for k, v in (_get(tp, "model_families_by_route", {}) or {}).items()}
        self.drop_failed = _get(tp, "drop_failed_families", True)
        self.include_blocked = _get(tp, "include_blocked", False) or self.include_blocked_flag


# --- candidate rows: what a row means --------------------------------------------------------

# Unicode's White_Space characters: what surrounds a name without being part of it.
WHITESPACE = "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"


def norm(value: Any) -> Any:
    """Enum values are trimmed and upper-cased; empty means null."""
    if value is None:
        return None
    text = str(value).strip().upper()
    return text or None


def finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass
class Row:
    target: str
    symbol: str | None
    score: float | None
    sample_size: int
    stability: str
    leakage: str
    task_type: str | None
    failed: list[str]
    mean_overlap: float | None
    std_overlap: float | None
    mean_tau: float | None
    std_tau: float | None
    n_snapshots: int | None


def read_rows(raw_rows: Sequence[Mapping[str, Any]]) -> list[Row]:
    rows = []
    for raw in raw_rows:
        # target and symbol are trimmed of surrounding white space; a blank symbol is the CS marker
        symbol = raw.get("symbol")
        symbol = symbol.strip(WHITESPACE) if isinstance(symbol, str) else symbol
        if symbol in ("", "__AGG__"):
            symbol = None
        mode = norm(raw.get("mode"))
        if symbol is None and mode in ("SYMBOL_SPECIFIC", "SYMBOL"):
            continue  # an aggregate row: skipped
        rows.append(Row(
            target=raw["target"].strip(WHITESPACE),
            symbol=symbol,
            score=finite(raw.get("score")),
            sample_size=int(raw["sample_size"]) if raw.get("sample_size") is not None else 0,
            stability=norm(raw.get("stability")) or "UNKNOWN",
            leakage=norm(raw.get("leakage_status")) or "UNKNOWN",
            task_type=norm(raw.get("task_type")),
            failed=[str(f).strip() for f in (raw.get("failed_model_families") or [])],
            mean_overlap=_nan_null(raw.get("mean_overlap")),
            std_overlap=_nan_null(raw.get("std_overlap")),
            mean_tau=_nan_null(raw.get("mean_tau")),
            std_tau=_nan_null(raw.get("std_tau")),
            n_snapshots=raw.get("n_snapshots"),
        ))
    return rows


def _nan_null(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


# --- routing -------------------------------------------------------------------------------------

def classify_stability(row: Row, sc: Mapping[str, Any]) -> str:
    if row.stability != "UNKNOWN":
        return row.stability
    if row.mean_overlap is None or row.mean_tau is None:
        return "UNKNOWN"
    if row.n_snapshots is not None and row.n_snapshots < sc["min_snapshots_for_stability"]:
        return "UNKNOWN"
    if (row.std_overlap is not None and row.std_overlap > sc["max_std_overlap"]) or \
            (row.std_tau is not None and row.std_tau > sc["max_std_tau"]):
        return "DIVERGED"
    if row.mean_overlap >= sc["stable_overlap_min"] and row.mean_tau >= sc["stable_tau_min"]:
        return "STABLE"
    if row.mean_overlap >= sc["drifting_overlap_min"] and row.mean_tau >= sc["drifting_tau_min"]:
        return "DRIFTING"
    return "UNKNOWN"


HORIZON_PATTERNS = ((r"(\d+)m(?:_|$)", 1), (r"(\d+)d(?:_|$)", 1440), (r"(\d+)h(?:_|$)", 60))


def horizon_minutes(target: str) -> int | None:
    for pattern, factor in HORIZON_PATTERNS:
        match = re.search(pattern, target, flags=re.ASCII)
        if match:
            return int(match.group(1)) * factor
    return None


def horizon_tier(target: str) -> str:
    minutes = horizon_minutes(target)
    if minutes is None:
        return "default"
    if minutes < 60:
        return "short"
    if minutes < 240:
        return "medium"
    if minutes < 1440:
        return "long"
    return "very_long"


def task_class(task_type: str | None) -> str:
    return "classification" if task_type and "CLASSIFICATION" in task_type.upper() else "regression"


def threshold(value: Any, klass: str, tier: str) -> float:
    """A THRESHOLD (number | {classification, regression: number | {default, tiers...}}) for a row."""
    if not isinstance(value, Mapping):
        return float(value)
    if klass == "classification":
        return float(value["classification"])
    regression = value["regression"]
    if not isinstance(regression, Mapping):
        return float(regression)
    if tier != "default" and regression.get(tier) is not None:
        return float(regression[tier])
    return float(regression["default"])


@dataclass
class Signal:
    state: str
    code: str  # the rule that decided: a DISALLOW_CODES member, or STRONG/WEAK_BUT_OK/EXPERIMENTAL
    row: Row | None = None
    stability: str | None = None


def signal(row: Row, side: str, cfg: Config) -> Signal:
    stability = classify_stability(row, cfg.sc)
    klass, tier = task_class(row.task_type), horizon_tier(row.target)
    min_score = threshold(cfg.thresholds[side]["min"], klass, tier)
    strong_score = threshold(cfg.thresholds[side]["strong"], klass, tier)
    allow = list(cfg.allowlist[side])
    if side == "cs" and cfg.dev_mode:
        cs_floor = cfg.min_n["cross_sectional"]
        min_n = min(max(cfg.dev_min, row.sample_size // 10), cs_floor)  # floor(0.1 x n), exactly
        if row.sample_size < cs_floor:
            allow.append("UNKNOWN")
    else:
        min_n = cfg.min_n["cross_sectional" if side == "cs" else "symbol"]

    def out(state: str, code: str) -> Signal:
        return Signal(state, code, row, stability)

    if row.score is None:
        return out("DISALLOWED", "SCORE_MISSING")
    if row.sample_size < min_n:
        return out("DISALLOWED", "SAMPLE_SIZE")
    if cfg.block_on_leakage and row.leakage == "BLOCKED":
        return out("DISALLOWED", "LEAKAGE_BLOCKED")
    if row.score >= strong_score and stability in allow:
        return out("STRONG", "STRONG")
    if row.score >= min_score and stability in allow:
        return out("WEAK_BUT_OK", "WEAK_BUT_OK")
    if cfg.lane and row.score >= threshold(cfg.exp_min, klass, tier) and stability in cfg.exp_stabilities:
        return out("EXPERIMENTAL", "EXPERIMENTAL")
    # rule 7: the score was enough but the stability was not allowed, or the score was too low
    return out("DISALLOWED", "STABILITY_NOT_ALLOWED" if row.score >= min_score else "SCORE_BELOW_MIN")


@dataclass
class Decision:
    target: str
    symbol: str
    cs: Signal
    local: Signal
    route: str
    capped: bool = False


@dataclass
class Routing:
    cs: dict[str, Signal] = field(default_factory=dict)              # target -> CS signal
    pairs: dict[tuple[str, str], Decision] = field(default_factory=dict)


def cap_size(fraction: float, n: int) -> int:
    """k = floor(fraction x n), with the fraction as the decimal number written in the config."""
    return int((Decimal(repr(float(fraction))) * n).to_integral_value(rounding="ROUND_FLOOR"))


def route(rows: Sequence[Row], cfg: Config) -> Routing:
    out = Routing()
    targets = sorted({r.target for r in rows})
    for target in targets:
        cs_rows = [r for r in rows if r.target == target and r.symbol is None]
        out.cs[target] = signal(cs_rows[0], "cs", cfg) if cs_rows else Signal("DISALLOWED", "NO_CS_METRICS")
    behaviour = {"ROUTE_BOTH": "ROUTE_BOTH", "PREFER_CS": "ROUTE_CROSS_SECTIONAL",
                 "PREFER_SYMBOL": "ROUTE_SYMBOL_SPECIFIC"}[cfg.both]
    for target in targets:
        cs = out.cs[target]
        symbol_rows = [r for r in rows if r.target == target and r.symbol is not None]
        experimental = []
        for r in symbol_rows:
            local = signal(r, "symbol", cfg)
            if cs.state in OK and local.state in OK:
                chosen = behaviour
            elif cs.state in OK:
                chosen = "ROUTE_CROSS_SECTIONAL"
            elif local.state in OK:
                chosen = "ROUTE_SYMBOL_SPECIFIC"
            elif local.state == "EXPERIMENTAL":
                chosen = "ROUTE_EXPERIMENTAL_ONLY"
            else:
                chosen = "ROUTE_BLOCKED"
            decision = Decision(target, r.symbol, cs, local, chosen)
            out.pairs[(target, r.symbol)] = decision
            if chosen == "ROUTE_EXPERIMENTAL_ONLY":
                experimental.append(decision)
        k = cap_size(cfg.fraction, len(symbol_rows))
        experimental.sort(key=lambda d: (-d.local.row.score, d.symbol))
        for decision in experimental[k:]:
            decision.route, decision.capped = "ROUTE_BLOCKED", True
    return out


# --- jobs ----------------------------------------------------------------------------------------

class DuplicateJobId(Exception):
    pass


def families_for(route_name: str, failed: Sequence[str], cfg: Config) -> list[str]:
    configured = cfg.by_route[route_name] if route_name in cfg.by_route else cfg.families
    out: list[str] = []
    for family in configured:
        family = family.strip().lower()
        if family and family not in out:
            out.append(family)
    if cfg.drop_failed:
        failed_set = {f.strip().lower() for f in failed}
        out = [f for f in out if f not in failed_set]
    return out


def plan_jobs(rows: Sequence[Row], cfg: Config, routing: Routing | None = None) -> tuple[list[dict], dict]:
    """(jobs in plan order, summary). Raises DuplicateJobId when two emitted jobs share an id."""
    routing = routing or route(rows, cfg)
    jobs: list[dict] = []
    skipped = 0
    for target, cs in routing.cs.items():
        if cs.state == "DISALLOWED":
            continue
        families = families_for("ROUTE_CROSS_SECTIONAL", cs.row.failed, cfg)
        if not families:
            skipped += 1
            continue
        jobs.append({"job_id": f"cs_{target}", "target": target, "symbol": None, "route": "ROUTE_CROSS_SECTIONAL",
                     "training_type": "cross_sectional", "model_families": families,
                     "priority": 1 if cs.state == "EXPERIMENTAL" else 2,
                     "estimated_samples": cs.row.sample_size, "needs_cs_ensemble": False})
    priorities = {"ROUTE_SYMBOL_SPECIFIC": 2, "ROUTE_BOTH": 3, "ROUTE_EXPERIMENTAL_ONLY": 1}
    for (target, symbol), d in routing.pairs.items():
        if d.route in priorities:
            families = families_for(d.route, d.local.row.failed, cfg)
            if not families:
                skipped += 1
                continue
            jobs.append({"job_id": f"sym_{target}_{symbol}", "target": target, "symbol": symbol, "route": d.route,
                         "training_type": "symbol_specific", "model_families": families,
                         "priority": priorities[d.route], "estimated_samples": d.local.row.sample_size,
                         "needs_cs_ensemble": d.route == "ROUTE_BOTH"})
        elif d.route == "ROUTE_BLOCKED" and cfg.include_blocked:
            jobs.append({"job_id": f"blocked_{target}_{symbol}", "target": target, "symbol": symbol,
                         "route": "ROUTE_BLOCKED", "training_type": "blocked", "model_families": [],
                         "priority": 0, "estimated_samples": d.local.row.sample_size, "needs_cs_ensemble": False})
    seen: dict[str, dict] = {}
    for job in jobs:
        if job["job_id"] in seen:
            raise DuplicateJobId(job["job_id"])
        seen[job["job_id"]] = job
    jobs.sort(key=lambda j: (-j["priority"], j["job_id"].encode("utf-8")))

    def count(key: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for job in jobs:
            counts[str(job[key])] = counts.get(str(job[key]), 0) + 1
        return counts

    summary = {
        "by_route": count("route"),
        "by_type": count("training_type"),
        "by_priority": count("priority"),
        "total_cs_jobs": sum(j["training_type"] == "cross_sectional" for j in jobs),
        "total_symbol_jobs": sum(j["training_type"] == "symbol_specific" for j in jobs),
        "total_blocked": sum(d.route == "ROUTE_BLOCKED" for d in routing.pairs.values()),
        "skipped_no_families": skipped,
    }
    return jobs, summary
