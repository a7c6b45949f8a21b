"""Fuzz (hypothesis): random bytes, random YAML and random parquet schemas fed to `plan` (as
--metrics and as --config), `validate`, `diff` and `foxwarehouse.consumer.load_plan`.

Every example runs on a workspace that already holds a good run and its export, and requires:

- the command exits 0 or 2 (load_plan returns a plan or raises PlanError);
- on exit 2, exactly one line on stderr, starting with "error: "; never a "Traceback";
- an answer within TIME_BOUND seconds (each call runs under an interval timer);
- the earlier run and the export folder unchanged (a plan that exits 0 may add a run and publish a
  complete export; the workspace is then copied afresh).

The default run tries a few derandomized examples per strategy; the slow sweep (``-m slow``)
several hundred. Inputs that break the contract in code this suite does not own are kept as
explicit xfail(strict=True) cases at the end, with the reason, so they turn green when fixed.
"""
from __future__ import annotations

import contextlib
import copy
import datetime as dt
import faulthandler
import json
import shutil
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from helpers import (
    CANDIDATE_TYPES,
    SIMPLE_CONFIG,
    CliResult,
    run_cli,
    tree_bytes,
)
from hypothesis import HealthCheck, Phase, given, settings, strategies as st
from reliability_helpers import assert_runs_intact, check_complete_export, one_exported_run, warehouse_snapshot
from reliability_log import record

from foxwarehouse.consumer import TrainingPlan, load_plan
from foxwarehouse.errors import PlanError

SUITE = "fuzz"
TIME_BOUND = 30.0
# No explain phase: it traces every line of a replayed example, which makes a DuckDB-heavy call
# tens of times slower and trips the time bound.
SETTINGS: dict[str, Any] = dict(deadline=None, derandomize=True, database=None, print_blob=True,
                                phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
                                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                       HealthCheck.function_scoped_fixture])
QUICK, SLOW = "quick", "slow"
SWEEPS = [pytest.param(QUICK, id=QUICK), pytest.param(SLOW, id=SLOW, marks=pytest.mark.slow)]


def examples(sweep: str, quick: int, slow: int = 100) -> int:
    return quick if sweep == QUICK else slow


# --- the workspace and the checks ----------------------------------------------------------------

class Hang(BaseException):
    """A call ran past TIME_BOUND (a BaseException, so no `except Exception` of the code swallows it)."""


@contextlib.contextmanager
def time_bound(seconds: float = TIME_BOUND) -> Iterator[None]:
    """Raise Hang in the main thread after `seconds`; a C call that never returns to Python is cut
    by faulthandler a little later (it ends the test process with every thread's stack)."""
    def on_alarm(signum: int, frame: Any) -> None:
        raise Hang(f"no answer within {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    faulthandler.dump_traceback_later(seconds * 3, exit=True)
    started = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        faulthandler.cancel_dump_traceback_later()
    assert time.monotonic() - started < seconds


#: Breaches of the contract in code this suite does not own, tolerated by the sweeps (counted in the
#: log) so that they find new classes; each has an exact xfail(strict=True) case at the end.
KNOWN_BUGS: dict[str, Callable[[str, list[str], Any], bool]] = {}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One good run exported, with the metrics and config it was planned from."""
    return one_exported_run(tmp_path_factory.mktemp("fuzz-template") / "ws")


class Bench:
    """A copy of the template the examples run in; copied afresh after a plan that exits 0."""

    def __init__(self, template: Path, root: Path):
        self.template, self.root, self.n = template, root, 0
        self.before_db = warehouse_snapshot(template / "w.duckdb")
        self.before_out = tree_bytes(template / "out")
        self.master_doc = json.loads((template / "out" / "training_plan" / "master_training_plan.json").read_text())
        self.tally: Counter[tuple[str, str]] = Counter()
        self.reset()

    def reset(self) -> None:
        self.n += 1
        self.ws = self.root / f"ws{self.n}"
        shutil.copytree(self.template, self.ws, symlinks=True)
        self.db, self.out = self.ws / "w.duckdb", self.ws / "out"
        (self.ws / "in").mkdir()

    def file(self, name: str, data: bytes | str) -> Path:
        path = self.ws / "in" / name
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogatepass")
        path.write_bytes(data)
        return path

    def intact(self) -> None:
        assert_runs_intact(self.before_db, warehouse_snapshot(self.db), allow_new=False)
        assert tree_bytes(self.out) == self.before_out, "the export folder changed"

    def cli(self, strategy: str, target: str, args: list[Any], context: Any = None) -> CliResult:
        with time_bound():
            result = run_cli([str(a) for a in args])
        assert result.code in (0, 2), result
        assert "Traceback" not in result.err + result.out, result
        outcome = f"exit {result.code}"
        if result.code == 2:
            lines = result.err.strip().splitlines()
            known = next((name for name, matches in KNOWN_BUGS.items() if matches(target, lines, context)), None)
            if known is not None:
                outcome += f" (known bug: {known})"
            else:
                assert len(lines) == 1 and lines[0].startswith("error: "), result
        self.tally[(f"{strategy} -> {target}", outcome)] += 1
        return result

    # the five targets -------------------------------------------------------------------------

    def plan_metrics(self, strategy: str, metrics: Path, context: Any = None) -> None:
        self._plan(strategy, "plan --metrics", metrics, self.template / "config.yaml", context)

    def plan_config(self, strategy: str, config: Path) -> None:
        self._plan(strategy, "plan --config", self.template / "good.parquet", config)

    def _plan(self, strategy: str, target: str, metrics: Path, config: Path, context: Any = None) -> None:
        # --skip-tests: the SQL unit-test gate is not under test here, and it runs the whole SQL suite
        # again whenever a model or test file changes, which no time bound per input should include.
        result = self.cli(strategy, target, ["plan", "--metrics", metrics, "--config", config, "--db", self.db,
                                             "--out", self.out, "--force", "--skip-tests"], context)
        if result.code == 2:
            self.intact()
            return
        after = warehouse_snapshot(self.db)
        new = assert_runs_intact(self.before_db, after)
        assert len(new) == 1 and after["runs"][new[0]]["row"]["status"] == "exported", result
        assert check_complete_export(self.out)["metadata"]["run_id"] == new[0]
        self.reset()

    def validate(self, strategy: str, path: Path) -> None:
        self.cli(strategy, "validate", ["validate", path])

    def diff(self, strategy: str, path: Path) -> None:
        self.cli(strategy, "diff", ["diff", path, "latest", "--db", self.db])
        self.intact()

    def load_plan(self, strategy: str, path: Path) -> None:
        with time_bound():
            try:
                got = load_plan(path)
            except PlanError as exc:
                assert exc.message and "Traceback" not in exc.message
                outcome = "PlanError"
            else:
                assert isinstance(got, TrainingPlan)
                outcome = "plan"
        self.tally[(f"{strategy} -> load_plan", outcome)] += 1

    def plan_file_targets(self, strategy: str, path: Path) -> None:
        self.validate(strategy, path)
        self.diff(strategy, path)
        self.load_plan(strategy, path)

    def record(self) -> None:
        by_case: dict[str, list[str]] = {}
        for (case, outcome), n in sorted(self.tally.items()):
            by_case.setdefault(case, []).append(f"{outcome} x{n}")
        for case, outcomes in by_case.items():
            record(SUITE, case, ", ".join(outcomes), klass=case.split(" -> ")[0], nothing_lost=True)


def run_sweep(template: Path, tmp_path: Path, body: Callable[[Bench], Callable[..., None]]) -> None:
    bench = Bench(template, tmp_path)
    body(bench)()
    bench.record()


# --- strategies --------------------------------------------------------------------------------------

CONFIG_WORDS = sorted({key for section in SIMPLE_CONFIG.values() for key in section}
                      | {"routing", "training_plan", "cross_sectional", "symbol", "min_score", "strong_score"})
PLAN_WORDS = ["metadata", "jobs", "summary", "schema_version", "job_id", "target", "symbol", "route", "priority",
              "training_type", "model_families", "ROUTE_BOTH", "cross_sectional", "1.0"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(),
                    st.text(max_size=12), st.sampled_from(CONFIG_WORDS + PLAN_WORDS + ["STABLE", "", "1:30"]))
keys = st.one_of(st.sampled_from(CONFIG_WORDS + PLAN_WORDS), st.text(max_size=8))
structures = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                           st.dictionaries(keys, inner, max_size=4)),
                          max_leaves=12)
YAML_TOKENS = ["routing:", "training_plan:", "\n", "  ", "- ", ": ", "min_score", "1:30", "&a ", "*a", "!!str ",
               "!!python/object:os.system ", "[", "]", "{", "}", ",", "'", '"', "# c", "0x1F", ".inf", "~",
               "yes", "<<: *a", "? ", "|", ">", "\t", "%YAML 1.2\n", "---\n", "...\n", "\x00", "\ufeff", "é"]
yaml_text = st.lists(st.sampled_from(YAML_TOKENS), max_size=40).map("".join)


def dump_yaml(doc: Any) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


def paths_of(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into a nested structure (keys and indexes), the root included."""
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += paths_of(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:3]):
            out += paths_of(v, prefix + (i,))
    return out


def mutate(doc: Any, data: st.DataObject) -> Any:
    """`doc` with one random path replaced by a random structure, deleted, or given an extra key."""
    doc = copy.deepcopy(doc)
    path = data.draw(st.sampled_from(paths_of(doc)), label="path")
    action = data.draw(st.sampled_from(["replace", "delete", "add"]), label="action")
    if not path:
        return data.draw(structures, label="root")
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "add" and isinstance(parent[last], dict):
        parent[last][data.draw(keys, label="key")] = data.draw(structures, label="value")
    else:
        parent[last] = data.draw(structures, label="value")
    return doc


ARROW_TYPES: dict[str, tuple[pa.DataType, st.SearchStrategy]] = {
    "string": (pa.string(), st.one_of(st.text(max_size=8), st.sampled_from(["AAPL", "STABLE", "SAFE", "", "x_5m"]))),
    "int64": (pa.int64(), st.integers(-2**63, 2**63 - 1)),
    "int8": (pa.int8(), st.integers(-128, 127)),
    "uint64": (pa.uint64(), st.integers(0, 2**64 - 1)),
    "float64": (pa.float64(), st.floats()),
    "float32": (pa.float32(), st.floats(width=32)),
    "bool": (pa.bool_(), st.booleans()),
    "list<string>": (pa.list_(pa.string()), st.lists(st.one_of(st.none(), st.text(max_size=6)), max_size=3)),
    "struct": (pa.struct([("mean", pa.float64()), ("n", pa.string())]),
               st.fixed_dictionaries({"mean": st.one_of(st.none(), st.floats()), "n": st.text(max_size=4)})),
    "timestamp": (pa.timestamp("us"), st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1))),
    "date": (pa.date32(), st.dates()),
    "binary": (pa.binary(), st.binary(max_size=8)),
    "decimal": (pa.decimal128(12, 3), st.decimals(min_value=Decimal("-1e8"), max_value=Decimal("1e8"), places=3,
                                                  allow_nan=False, allow_infinity=False)),
    "null": (pa.null(), st.none()),
    "map": (pa.map_(pa.string(), pa.float64()),
            st.lists(st.tuples(st.text(max_size=4), st.floats()), max_size=2, unique_by=lambda t: t[0])),
}
REAL_COLUMNS = list(CANDIDATE_TYPES)
REAL_VALUES: dict[str, st.SearchStrategy] = {
    "string": st.sampled_from(["fwd_ret_15m", "AAPL", "MSFT", "STABLE", "DRIFTING", "SAFE", "BLOCKED", "REGRESSION",
                               "CROSS_SECTIONAL", "OK", "", " ", "__AGG__"]),
    "double": st.one_of(st.floats(0, 1), st.floats()),
    "int64": st.integers(-5, 10**6),
    "list<item: string>": ARROW_TYPES["list<string>"][1],
}


@st.composite
def parquet_tables(draw: st.DrawFn) -> pa.Table:
    """A table of random columns: the real names (often the required ones) and random ones, with
    random types and values; sometimes a name twice."""
    names = draw(st.lists(st.one_of(st.sampled_from(REAL_COLUMNS), st.text(min_size=0, max_size=8)),
                          min_size=0, max_size=7), label="names")
    if draw(st.booleans(), label="required"):
        names = ["target", "score", "sample_size"] + names
    n_rows = draw(st.integers(0, 5), label="rows")
    arrays = []
    for name in names:
        real = CANDIDATE_TYPES.get(name)
        kind = draw(st.sampled_from(sorted(ARROW_TYPES) + (["real"] * 3 if real is not None else [])), label=name)
        if kind == "real":  # the column's own type, with values near the real ones
            arrow_type, values = real, REAL_VALUES[str(real)]
        else:
            arrow_type, values = ARROW_TYPES[kind]
        column = draw(st.lists(st.one_of(st.none(), values), min_size=n_rows, max_size=n_rows), label=f"{name} values")
        arrays.append(pa.array(column, type=arrow_type))
    if not names:
        return pa.table({})
    return pa.Table.from_arrays(arrays, names=names)


# --- the sweeps ------------------------------------------------------------------------------------

@pytest.mark.parametrize("sweep", SWEEPS)
def test_random_bytes(template: Path, tmp_path: Path, sweep: str) -> None:
    def body(bench: Bench) -> Callable[..., None]:
        @settings(max_examples=examples(sweep, 4), **SETTINGS)
        @given(data=st.binary(max_size=3000), suffix=st.sampled_from([".parquet", ".csv"]))
        def run(data: bytes, suffix: str) -> None:
            bench.plan_metrics("random bytes", bench.file(f"metrics{suffix}", data))
            bench.plan_config("random bytes", bench.file("config.yaml", data))
            bench.plan_file_targets("random bytes", bench.file("plan.json", data))
        return run
    run_sweep(template, tmp_path, body)


@pytest.mark.parametrize("sweep", SWEEPS)
def test_random_yaml_structures(template: Path, tmp_path: Path, sweep: str) -> None:
    def body(bench: Bench) -> Callable[..., None]:
        @settings(max_examples=examples(sweep, 5), **SETTINGS)
        @given(doc=structures)
        def run(doc: Any) -> None:
            bench.plan_config("random YAML", bench.file("config.yaml", dump_yaml(doc)))
            bench.plan_metrics("random YAML", bench.file("metrics.csv", dump_yaml(doc)))
            bench.plan_file_targets("random YAML", bench.file("plan.json", json.dumps(doc)))
        return run
    run_sweep(template, tmp_path, body)


@pytest.mark.parametrize("sweep", SWEEPS)
def test_random_yaml_text(template: Path, tmp_path: Path, sweep: str) -> None:
    def body(bench: Bench) -> Callable[..., None]:
        @settings(max_examples=examples(sweep, 4), **SETTINGS)
        @given(text=yaml_text)
        def run(text: str) -> None:
            bench.plan_config("YAML tokens", bench.file("config.yaml", text))
        return run
    run_sweep(template, tmp_path, body)


@pytest.mark.parametrize("sweep", SWEEPS)
def test_mutated_config(template: Path, tmp_path: Path, sweep: str) -> None:
    def body(bench: Bench) -> Callable[..., None]:
        @settings(max_examples=examples(sweep, 4), **SETTINGS)
        @given(data=st.data())
        def run(data: st.DataObject) -> None:
            bench.plan_config("mutated config", bench.file("config.yaml", dump_yaml(mutate(SIMPLE_CONFIG, data))))
        return run
    run_sweep(template, tmp_path, body)


@pytest.mark.parametrize("sweep", SWEEPS)
def test_mutated_plan_file(template: Path, tmp_path: Path, sweep: str) -> None:
    def body(bench: Bench) -> Callable[..., None]:
        @settings(max_examples=examples(sweep, 6), **SETTINGS)
        @given(data=st.data())
        def run(data: st.DataObject) -> None:
            doc = mutate(bench.master_doc, data)
            bench.plan_file_targets("mutated plan", bench.file("plan.json", json.dumps(doc)))
        return run
    run_sweep(template, tmp_path, body)


@pytest.mark.parametrize("sweep", SWEEPS)
def test_random_parquet_schemas(template: Path, tmp_path: Path, sweep: str) -> None:
    def body(bench: Bench) -> Callable[..., None]:
        @settings(max_examples=examples(sweep, 5), **SETTINGS)
        @given(table=parquet_tables())
        def run(table: pa.Table) -> None:
            path = bench.ws / "in" / "metrics.parquet"
            pq.write_table(table, path)
            bench.plan_metrics("random parquet", path, context=table.column_names)
            bench.plan_file_targets("random parquet", path)
        return run
    run_sweep(template, tmp_path, body)


# --- inputs the sweeps found that break the contract in code this suite does not own -------------------
# Exact inputs, for the owner of the code; strict, so each turns into a failure (remove the xfail and
# its KNOWN_BUGS entry) once fixed.

CONFIG_CASES: dict[str, tuple[bytes, str | None]] = {   # input, the reason while it is a known bug
    "empty config file": (b"", None),
    "problems of several kinds": (b"routing:\n  dev_mode: 3\n  block_on_leakage: x\n  bogus: 1\n", None),
    "YAML syntax error": (b": ", None),
    "YAML syntax error in a list": (b"routing: [1, : 2", None),
}


@pytest.mark.parametrize("case", [pytest.param(case, marks=[pytest.mark.xfail(strict=True, reason=reason)] if reason else [])
                                  for case, (_, reason) in sorted(CONFIG_CASES.items())])
def test_found_config_inputs_give_one_line(template: Path, tmp_path: Path, case: str) -> None:
    bench = Bench(template, tmp_path)
    config = bench.file("config.yaml", CONFIG_CASES[case][0])
    result = run_cli(["plan", "--metrics", template / "good.parquet", "--config", config, "--db", bench.db,
                      "--out", bench.out])
    assert result.code == 2 and "Traceback" not in result.err, result
    bench.intact()
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result
    record(SUITE, f"found: {case}", "exit 2", klass="found by the sweeps", nothing_lost=True)


COLUMN_CASES = {
    "a column named CR": "\r",
    "a column named LF": "a\nb",
    "a column named RS": "\x1e",   # str.splitlines() breaks a line there too, as do \x1c, \x85, \u2028
}


@pytest.mark.parametrize("case", [*sorted(COLUMN_CASES), "a CSV header of NUL and VT"])
def test_found_column_names_give_one_line(template: Path, tmp_path: Path, case: str) -> None:
    bench = Bench(template, tmp_path)
    if case in COLUMN_CASES:
        metrics = bench.ws / "in" / "metrics.parquet"
        pq.write_table(pa.table({COLUMN_CASES[case]: pa.array([], type=pa.binary())}), metrics)
    else:
        metrics = bench.file("metrics.csv", b"\x00\x0b")
    result = run_cli(["plan", "--metrics", metrics, "--config", template / "config.yaml", "--db", bench.db,
                      "--out", bench.out, "--skip-tests"])
    assert result.code == 2 and "Traceback" not in result.err, result
    bench.intact()
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result
    record(SUITE, f"found: {case}", "exit 2", klass="found by the sweeps", nothing_lost=True)
