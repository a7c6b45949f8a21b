"""Export: write every plan file of a built run from the final view, atomically.

Layout under the export folder::

    routing_candidates.parquet            (routing_candidates.csv when pyarrow is unavailable)
    routing_plan/routing_plan.{json,yaml,md}
    training_plan/master_training_plan.json, training_plan.{json,yaml,md}
    training_plan/by_target/ by_symbol/ by_route/ by_type/
    .foxwarehouse/                         lock, published.json, staging (foxwarehouse/export/publish.py)

Each plan folder also holds ``.foxwarehouse-manifest.json``: the files the export wrote in it.

Job objects are produced as JSON text by DuckDB and streamed in chunks; Python only frames them.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import interrupts, jobs_json
from ..atomic import atomic_stream, copy_file_atomic, unusable_path, write_text_atomic
from ..engine import one_row
from ..errors import ExportError, OutputError
from ..faults import checkpoint
from ..file_errors import error_detail, is_storage_failure, storage_problem, warehouse_error
from ..render import quote_identifier, sql_literal
from ..warehouse import PUBLISHED_RUN_QUERY, Warehouse, utc_now
from .export_record import read_folder_manifest_run
from .export_views import write_derived_views
from .markdown import TOP_N, routing_plan_markdown, training_plan_markdown
from .publish import Publisher, discard_staging, new_staging, output_lock, write_manifest
from .text_copy import Part, copy_parts, copy_text, yaml_safe_sql

SCHEMA_VERSION = "1.0"
ROUTING_PLAN_PATH = "routing_plan/routing_plan.json"
JOBS_PARQUET_FOLDER = "jobs_parquet"   # training_plan/jobs_parquet/target=NAME/*.parquet (training_plan.jobs_parquet)
# In routing_plan.json, a symbol's reason list names its target's CS reason by this item instead of
# repeating it: the full reasons are cross_sectional.reason in its place (docs/ROUTING.md, section 5).
CS_REASON_REF = "cs: see cross_sectional.reason"
# Pairs per sorted part of the routing plan: one sort of a million would spill under the memory limit.
ROUTING_PART_ROWS = 200_000
PLAN_FOLDERS = ("routing_plan", "training_plan")     # publication order: the training plan last


@dataclass
class ExportResult:
    run_id: str
    out_dir: Path
    files: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def pyarrow_available() -> bool:
    if "pyarrow" in sys.modules:
        return sys.modules["pyarrow"] is not None
    try:
        return importlib.util.find_spec("pyarrow") is not None
    except (ImportError, ValueError):
        return False


def export(wh: Warehouse, run_id: str, out_dir: str | os.PathLike[str], wait: float = 0.0,
           config: dict[str, Any] | None = None, job_json: str | None = None) -> ExportResult:
    """Write every export file of `run_id` into out_dir, replacing the previous export atomically.

    The files are staged in ``out_dir/.foxwarehouse/`` and published by foxwarehouse/export/publish.py,
    holding the output folder's lock (waiting up to `wait` seconds for another exporter).
    `config` is the run's config when the caller holds it (else it is read from the run);
    `job_json` a table of the run's job JSON the build already made (else it is made here).
    """
    # From publishing until the run is recorded exported, a Ctrl-C or SIGTERM waits: an
    # interrupt never leaves the new plan live with its run still 'built'.
    with interrupts.critical() as live:
        try:
            return _export(wh, run_id, out_dir, wait, config, job_json, live)
        finally:
            try:
                wh.engine.execute(f"DROP TABLE IF EXISTS {job_json or jobs_json.JOB_JSON_TABLE}")
            except wh.engine.Error:
                pass


def _export(wh: Warehouse, run_id: str, out_dir: str | os.PathLike[str], wait: float,
            config: dict[str, Any] | None, job_json: str | None, live: interrupts.Section) -> ExportResult:
    run = wh.run(run_id)
    if run["status"] not in ("built", "exported"):
        raise ExportError(f"run {run_id} is {run['status']}, not built; run 'foxwarehouse build' first")
    if config is None:
        config = wh.run_config(run_id)
    out = Path(out_dir)
    try:
        check_export_folder(out)
    except OutputError as exc:
        raise OutputError(f"{exc.message} ({_not_published(wh, run, out, hint=False)})", path=out) from None
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = new_staging(out, run_id)
    except OSError as exc:
        raise ExportError(f"cannot write export folder {out}: {_os_detail(exc)} ({_not_published(wh, run, out)})",
                          path=out) from None
    checkpoint("export:start")
    writer = _Writer(wh, run, config, staging, job_json)
    try:
        writer.write_all()
        for folder in PLAN_FOLDERS:
            write_manifest(staging / folder, run_id)
        checkpoint("export:before-publish")
        with output_lock(out, wait):
            checkpoint("publish:locked")
            publisher = Publisher(out, staging, run_id, writer.candidates_name, list(PLAN_FOLDERS), run["input_path"])
            live.begin()
            warnings = publisher.run()
        checkpoint("export:published")
    except (OSError, wh.engine.Error) as exc:
        # Disk full or a refused write, in the staging folder (a parquet COPY raises DuckDB's
        # IOException, a plan file an OSError) or while publishing: nothing visible changed.
        _discard(staging)
        if isinstance(exc, wh.engine.Error) and not is_storage_failure(exc, staging.name):
            raise
        raise ExportError(f"cannot write the export to {out}: {_os_detail(exc)}; the previous export is unchanged "
                          f"({_not_published(wh, run, out)})", path=out) from None
    except BaseException:
        _discard(staging)
        raise
    try:
        with wh.transaction():
            wh.set_run(run_id, status="exported", exported_at=utc_now(), export_dir=str(out))
    except wh.engine.Error as exc:
        # The plan is live in `out` but the warehouse could not record it (a full disk under the
        # warehouse, say): `published` still names the run before. Say so; exporting again fixes it.
        raise ExportError(f"run {run_id}'s plan was published to {out}, but the warehouse {wh.path} could not "
                          f"record it ({warehouse_error(wh.path, exc).message}); until "
                          f"'foxwarehouse export --run {run_id}' succeeds, 'published' names the run before",
                          path=wh.path) from None
    live.note = f"run {run_id}'s plan had already been published to {out} and recorded as exported"
    checkpoint("export:marked-exported")
    return ExportResult(run_id, out, writer.files, writer.summary, writer.metadata, warnings)


def check_export_folder(out: str | os.PathLike[str]) -> None:
    """OutputError (one line saying what is in the way) unless `out` is or can be made a folder:
    a file, device, dangling link or link loop at `out` or in place of a folder above it."""
    problem = unusable_path(out, "folder")
    if problem is not None:
        raise OutputError(f"cannot export to {out}: {problem}; choose another --out", path=Path(out))


def _os_detail(exc: BaseException) -> str:
    """A failed write as words: "no space left on device (disk full): FILE" and the like."""
    problem = storage_problem(exc)
    text = error_detail(exc)
    if problem == "disk full" and "disk full" not in text.lower():
        text = f"disk full ({text})"
    return text


def _not_published(wh: Warehouse, run: dict[str, Any], out: Path, hint: bool = True) -> str:
    """What a failed export leaves: this run not published, and which run's plan `out` still holds.

    `latest` (the newest built run) then differs from `published` (the run whose plan was exported
    last) until an export of the run succeeds; docs/PUBLISHING.md, "published versus latest".
    """
    run_id = run["run_id"]
    held = read_folder_manifest_run(out / "training_plan")
    try:
        row = wh.con.execute(PUBLISHED_RUN_QUERY).fetchone()
    except wh.engine.Error:
        row = None
    published = row[0] if row else None
    verb = "was not published again" if run.get("status") == "exported" else "is built but not published"
    text = f"run {run_id} {verb}"
    if held is not None and held != run_id:
        text += f"; {out} still holds run {held}'s plan" + (", the 'published' run" if held == published else "")
    if hint:
        text += f"; 'foxwarehouse export --run {run_id}' publishes it once the folder can be written"
    return text


def _discard(staging: Path) -> None:
    """Remove what this export staged (carefully, where a folder was already swapped)."""
    try:
        if os.path.lexists(staging):
            discard_staging(staging)
    except OSError:
        pass


class _Writer:
    def __init__(self, wh: Warehouse, run: dict[str, Any], config: dict[str, Any], root: Path,
                 job_json: str | None = None):
        self.con = wh.con
        self.engine = wh.engine
        self.job_json = job_json
        self.run = run
        self.run_id = run["run_id"]
        self.config = config
        self.root = root
        self.files: list[str] = []
        catalog = quote_identifier(one_row(self.con.execute("SELECT current_database()"))[0])
        self.t = {name: f"{catalog}.main.{quote_identifier(name)}" for name in
                  ("routing_candidates", "cs_decisions", "routing_decisions", "master_plan", "plan_summary")}
        self.formats = set(config["routing"]["dump_plan_as"])
        self.candidates_name = "routing_candidates.parquet" if pyarrow_available() else "routing_candidates.csv"
        self.summary = self._summary()
        self.metadata = self._metadata()

    # --- pieces ---------------------------------------------------------------------------

    def _summary(self) -> dict[str, Any]:
        row = self.con.execute(
            f"""SELECT to_json({{'by_route': by_route, 'by_type': by_type, 'by_priority': by_priority,
                    'total_cs_jobs': total_cs_jobs, 'total_symbol_jobs': total_symbol_jobs,
                    'total_blocked': total_blocked, 'skipped_no_families': skipped_no_families}}),
                    total_jobs, model_families, total_targets, total_pairs
                FROM {self.t['plan_summary']} WHERE run_id = ?""",
            [self.run_id],
        ).fetchone()
        if row is None:
            raise ExportError(f"run {self.run_id} has no plan_summary rows; rebuild it")
        self.total_jobs, self.model_families, self.total_targets, self.total_pairs = row[1], row[2], row[3], row[4]
        return json.loads(row[0])

    def _metadata(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "run_id": self.run_id,
            "generated_at": utc_now().isoformat(timespec="microseconds") + "Z",
            # the commit of the project's folder (runs.project_commit), null outside git
            "git_commit": self.run["git_commit"],
            "git_dirty": self.run.get("project_dirty"),
            "config_hash": self.run["config_hash"],
            "models_fingerprint": self.run.get("models_fingerprint"),
            "input_fingerprint": self.run["input_fingerprint"],
            "plan_fingerprint": self.run["plan_fingerprint"],
            "metrics_snapshot": self.candidates_name,
            "routing_plan_path": ROUTING_PLAN_PATH,
            "total_jobs": int(self.total_jobs),
            "model_families": list(self.model_families),
        }

    def write_all(self) -> None:
        self.write_candidates()
        self.write_routing_plan()
        # The JSON text of every job, computed once in SQL (by the build of this plan, or here),
        # shared by the plan files and the views, and dropped once they are written.
        if self.job_json is None:
            self.job_json = jobs_json.materialise(self.engine, self.t["master_plan"], self.run_id)
        try:
            self.write_training_plan()
            if self.config["training_plan"]["derived_views"]:
                write_derived_views(self.con, self.job_json, self.root / "training_plan")
                self.files.append("training_plan/by_*/")
            if self.config["training_plan"].get("jobs_parquet"):
                self.write_jobs_parquet()
        finally:
            self.con.execute(f"DROP TABLE IF EXISTS {self.job_json}")

    def _record(self, relative: str) -> None:
        self.files.append(relative)
        checkpoint(f"export:after-file:{relative}")

    def write_jobs_parquet(self) -> None:
        """The jobs of the final view as parquet partitioned by target (``target=NAME/`` folders,
        hive style), for very large plans: a reader (Spark, DuckDB, pandas) loads a target's jobs
        without parsing the whole JSON plan. Same rows, values and order (plan_order) as the jobs
        of master_training_plan.json; written into the export's staged folder, so it is published
        with the rest of the plan or not at all."""
        folder = self.root / "training_plan" / JOBS_PARQUET_FOLDER
        self.con.execute(
            f"COPY (SELECT plan_order, job_id, target, symbol, route, training_type, model_families, priority, "
            f"estimated_samples, reason, metadata FROM {self.t['master_plan']} WHERE run_id = ? ORDER BY plan_order) "
            f"TO {sql_literal(str(folder))} (FORMAT parquet, PARTITION_BY (target))",
            [self.run_id],
        )
        self._record(f"training_plan/{JOBS_PARQUET_FOLDER}/")

    def write_candidates(self) -> None:
        path = self.root / self.candidates_name
        fmt = "FORMAT parquet" if self.candidates_name.endswith(".parquet") else "FORMAT csv, HEADER true"
        select = "* EXCLUDE (run_id)" if fmt.startswith("FORMAT parquet") else \
            "* EXCLUDE (run_id, failed_model_families), to_json(failed_model_families) AS failed_model_families"
        self.con.execute(
            f"COPY (SELECT {select} FROM {self.t['routing_candidates']} WHERE run_id = ? "
            f"ORDER BY target, symbol NULLS FIRST) TO {sql_literal(str(path))} ({fmt})",
            [self.run_id],
        )
        self._record(self.candidates_name)

    # --- routing plan -----------------------------------------------------------------------

    def _routing_metadata(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "run_id": self.run_id,
            "generated_at": self.metadata["generated_at"],
            "config_hash": self.run["config_hash"],
            "input_fingerprint": self.run["input_fingerprint"],
            "total_targets": int(self.total_targets),
            "total_pairs": int(self.total_pairs),
        }

    def _routing_parts(self, yaml_rows: bool, prefix: str, suffix: str) -> list[Part]:
        """The routing plan's rows, in parts of whole targets of at most ROUTING_PART_ROWS pairs.

        One text row per (target, symbol) pair in (target, symbol) order, plus one per target
        without symbols: the target's key and CS entry on its first row, "}}" closing it on its last.
        JSON rows are joined by "," (the symbols of one target stay on one line; a target's first row
        starts a new line). YAML rows are joined by a line break and indent: the target is an explicit key
        ("? T" / ": {...}", any length of name) and each further symbol a continuation line of the
        flow mapping. A symbol's reason list names its target's CS reason by CS_REASON_REF instead
        of repeating it (docs/ROUTING.md, section 5).
        """
        targets = self.con.execute(
            f"SELECT c.target, count(d.symbol) FROM {self.t['cs_decisions']} c "
            f"LEFT JOIN {self.t['routing_decisions']} d ON d.run_id = c.run_id AND d.target = c.target "
            f"WHERE c.run_id = ? GROUP BY c.target ORDER BY c.target",
            [self.run_id],
        ).fetchall()
        query = self._routing_query(yaml_rows)
        # What goes between two parts: DuckDB needs a non-empty prefix and suffix on each.
        between, tail, separator = ("  ", "\n", "\n  ") if yaml_rows else ("\n    ", ",", ",")
        ranges = list(_chunks(targets, ROUTING_PART_ROWS))
        return [Part(query, {"run": self.run_id, "first": first, "last": last}, prefix if i == 0 else between,
                     separator, suffix if i == len(ranges) - 1 else tail)
                for i, (first, last) in enumerate(ranges)]

    def _routing_query(self, yaml_rows: bool) -> str:
        if yaml_rows:
            head = "'? ' || to_json(r.target) || chr(10) || '  : {\"cross_sectional\": '"
            more, close = "'  '", "','"
        else:
            # A part's first target follows its prefix; every other one starts a new line.
            head = ("CASE WHEN r.target = (SELECT min(target) FROM c) THEN '' ELSE chr(10) || '    ' END || "
                    "to_json(r.target) || ': {\"cross_sectional\": '")
            more, close = "''", "''"
        row = (f"CASE WHEN r.first THEN {head} || r.cs_json || ', \"symbols\": {{' ELSE {more} END || "
               f"coalesce(r.entry, '') || CASE WHEN r.last THEN '}}}}' ELSE {close} END")
        if yaml_rows:
            row = yaml_safe_sql(f"({row})")
        in_part = "run_id = $run AND target >= $first AND target <= $last"
        return f"""
            WITH c AS (
                SELECT target, reason AS cs_reason, to_json({{'state': cs_state, 'route': route,
                       'reason': reason, 'reason_code': reason_code}}) AS cs_json
                FROM {self.t['cs_decisions']} WHERE {in_part}),
            d AS (SELECT * FROM {self.t['routing_decisions']} WHERE {in_part}),
            g AS (SELECT target, min(symbol) AS first_symbol, max(symbol) AS last_symbol FROM d GROUP BY target),
            r AS (
                SELECT c.target, d.symbol, c.cs_json,
                       d.symbol IS NOT DISTINCT FROM g.first_symbol AS first,
                       d.symbol IS NOT DISTINCT FROM g.last_symbol AS last,
                       to_json(d.symbol) || ':' || to_json({{'route': d.route, 'cs_state': d.cs_state,
                           'local_state': d.local_state,
                           'reason': CASE WHEN d.reasons[1] = c.cs_reason
                                          THEN list_concat([{sql_literal(CS_REASON_REF)}], d.reasons[2:])
                                          ELSE d.reasons END,
                           'reason_codes': d.reason_codes}}) AS entry
                FROM c LEFT JOIN d ON d.target = c.target LEFT JOIN g ON g.target = c.target)
            SELECT {row} FROM r ORDER BY r.target, r.symbol NULLS FIRST"""

    def _write_routing_file(self, path: Path, as_yaml: bool, head: str, tail: str, empty: str) -> None:
        """routing_plan.json or .yaml: the targets' entries written by DuckDB between `head` and
        `tail`, or the whole text `empty` when the plan has no target."""
        if int(self.total_targets) > 0:
            copy_parts(self.con, path, self._routing_parts(as_yaml, head, tail),
                       before_rename=f"export:before-rename:{path.name}")
        else:
            with _plan_stream(path) as fh:
                fh.write(empty)
        self._record(f"routing_plan/{path.name}")

    def write_routing_plan(self) -> None:
        folder = self.root / "routing_plan"
        meta = self._routing_metadata()
        path = folder / "routing_plan.json"
        head = '{\n  "metadata": ' + _indent(json.dumps(meta, indent=2, ensure_ascii=False)) + ',\n  "targets": {'
        self._write_routing_file(path, False, head + "\n    ", "\n  }\n}\n", head + "}\n}\n")
        if "YAML" in self.formats:
            head = yaml.safe_dump({"metadata": meta}, sort_keys=False, allow_unicode=True)
            self._write_routing_file(folder / "routing_plan.yaml", True, head + "targets:\n  ", "\n",
                                     head + "targets: {}\n")
        if "MARKDOWN" in self.formats:
            route_rows = self.con.execute(
                f"SELECT route, count(*) FROM {self.t['routing_decisions']} WHERE run_id = ? GROUP BY route ORDER BY route",
                [self.run_id]).fetchall()
            target_rows = self.con.execute(
                f"""SELECT c.target, c.cs_state, c.route, count(d.symbol),
                        count(*) FILTER (WHERE d.route = 'ROUTE_BOTH'),
                        count(*) FILTER (WHERE d.route = 'ROUTE_SYMBOL_SPECIFIC'),
                        count(*) FILTER (WHERE d.route = 'ROUTE_CROSS_SECTIONAL'),
                        count(*) FILTER (WHERE d.route = 'ROUTE_EXPERIMENTAL_ONLY'),
                        count(*) FILTER (WHERE d.route = 'ROUTE_BLOCKED')
                    FROM {self.t['cs_decisions']} c LEFT JOIN {self.t['routing_decisions']} d
                      ON d.run_id = c.run_id AND d.target = c.target
                    WHERE c.run_id = ? GROUP BY ALL ORDER BY c.target LIMIT {TOP_N}""",
                [self.run_id]).fetchall()
            write_text_atomic(folder / "routing_plan.md",
                              routing_plan_markdown(meta, route_rows, target_rows, int(self.total_targets)))
            self._record("routing_plan/routing_plan.md")

    # --- training plan ----------------------------------------------------------------------

    def write_training_plan(self) -> None:
        folder = self.root / "training_plan"
        master = folder / "master_training_plan.json"
        # The job table is made in plan order (jobs_json.materialise) and the warehouse keeps
        # insertion order, so a plain scan yields the jobs in plan order without a sort.
        rows = f"SELECT job_json FROM {self.job_json}"
        (count,) = one_row(self.con.execute(f"SELECT count(*) FROM {self.job_json}"))
        head = '{\n  "metadata": ' + _indent(json.dumps(self.metadata, indent=2, ensure_ascii=False)) + ',\n  "jobs": ['
        summary = ',\n  "summary": ' + _indent(json.dumps(self.summary, indent=2, ensure_ascii=False)) + "\n}\n"
        if count:
            copy_text(self.con, master, rows, None, prefix=head + "\n    ", separator=",\n    ",
                      suffix="\n  ]" + summary, before_rename=f"export:before-rename:{master.name}")
        else:
            with _plan_stream(master) as fh:
                fh.write(head + "]" + summary)
        self._record("training_plan/master_training_plan.json")
        _link_or_copy(master, folder / "training_plan.json")
        self._record("training_plan/training_plan.json")
        if "YAML" in self.formats:
            path = folder / "training_plan.yaml"
            head = yaml.safe_dump({"metadata": self.metadata}, sort_keys=False, allow_unicode=True)
            tail = yaml.safe_dump({"summary": self.summary}, sort_keys=False, allow_unicode=True)
            if count:
                copy_text(self.con, path, f"SELECT '- ' || {yaml_safe_sql('job_json')} FROM {self.job_json}", None,
                          prefix=head + "jobs:\n", separator="\n", suffix="\n" + tail,
                          before_rename=f"export:before-rename:{path.name}")
            else:
                with _plan_stream(path) as fh:
                    fh.write(head + "jobs: []\n" + tail)
            self._record("training_plan/training_plan.yaml")
        if "MARKDOWN" in self.formats:
            top = self.con.execute(
                f"SELECT job_id, route, priority, array_to_string(model_families, ', '), estimated_samples "
                f"FROM {self.t['master_plan']} WHERE run_id = ? ORDER BY plan_order LIMIT {TOP_N}",
                [self.run_id]).fetchall()
            targets = self.con.execute(
                f"""SELECT target, count(*) FILTER (WHERE training_type = 'cross_sectional'),
                        count(*) FILTER (WHERE training_type = 'symbol_specific'),
                        count(*) FILTER (WHERE training_type = 'blocked'), count(*)
                    FROM {self.t['master_plan']} WHERE run_id = ? GROUP BY target ORDER BY target LIMIT {TOP_N}""",
                [self.run_id]).fetchall()
            n_targets = one_row(self.con.execute(
                f"SELECT count(DISTINCT target) FROM {self.t['master_plan']} WHERE run_id = ?", [self.run_id]))[0]
            write_text_atomic(folder / "training_plan.md",
                              training_plan_markdown(self.metadata, self.summary, top, targets, int(n_targets)))
            self._record("training_plan/training_plan.md")


# Characters a YAML reader rejects (DEL, C1 controls, U+FFFE/U+FFFF) or reads as a line break or a
# byte-order mark (NEL, LS, PS, U+FEFF). They can only occur inside JSON strings, so escaping them
# as \uXXXX (valid in JSON and in YAML double-quoted scalars) keeps the YAML mirror parseable.
_YAML_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")


def yaml_safe_json(text: str) -> str:
    """JSON text made safe to embed in YAML (flow style) without changing the values it denotes.

    Numbers are already YAML-safe (see jobs_json.py); only characters a YAML reader rejects or
    treats as line breaks need escaping, and pure-ASCII text without DEL has none of them.
    """
    if text.isascii() and "\x7f" not in text:
        return text
    if _YAML_UNSAFE.search(text) is None:
        return text
    return _YAML_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _chunks(groups: list[tuple[str, int]], rows: int) -> Iterator[tuple[str, str]]:
    """(first, last) key ranges of consecutive groups holding at most `rows` rows (or one group)."""
    start = 0
    while start < len(groups):
        end, total = start, 0
        while end < len(groups) and (total == 0 or total + groups[end][1] <= rows):
            total += max(groups[end][1], 1)
            end += 1
        yield groups[start][0], groups[end - 1][0]
        start = end


def _link_or_copy(master: Path, mirror: Path) -> None:
    """training_plan.json: the master's content under a second name, as a hard link where the file
    system allows one (no second copy of the bytes), else as an atomic copy."""
    try:
        os.link(master, mirror)
    except OSError:
        copy_file_atomic(master, mirror)


def _indent(text: str) -> str:
    return text.replace("\n", "\n  ")


def _plan_stream(path: Path):
    """A plan file streamed atomically; the crash-safety sweep may stop it just before the rename."""
    return atomic_stream(path, before_rename=f"export:before-rename:{path.name}")
