"""The command line: parses arguments and calls library functions; nothing else lives here.

Exit codes: 0 ok, 1 differences (diff --exit-code) or failing SQL tests, 2 usage or input error.
Every FoxError becomes one line on stderr; no tracebacks.
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable, Sequence

import duckdb

from . import __version__, interrupts
from .errors import FoxError, InputError, PlanError, UsageError
from .formatting import visible_controls
from .pipeline import DEFAULT_DB, DEFAULT_OUT, PlanResult
from .project import PROJECT_DIR_ENV, PROJECT_FILE
from .vocabulary import ROUTES, TRAINING_TYPES

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str) -> Callable:
    def register(fn: Callable[[argparse.Namespace], int]) -> Callable:
        COMMANDS[name] = fn
        return fn
    return register


def wait_seconds(text: str) -> float:
    """--wait SECONDS: a finite number >= 0 (nan, inf or a negative time would wait wrongly or forever)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text[:40]!r}") from None
    if not (0.0 <= value < 1e9):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds >= 0, got {text[:40]!r}")
    return value


def err(message: str) -> None:
    print(message, file=sys.stderr)


def print_plan_summary(by_route: dict, by_type: dict, by_priority: dict, total: int, skipped: int = 0) -> None:
    print(f"jobs: {total}")
    for title, counts in (("by route", by_route), ("by type", by_type), ("by priority", by_priority)):
        print(f"  {title}:")
        for key, value in counts.items():
            print(f"    {key:<26} {value:>8}")
    if skipped:  # summary.skipped_no_families: jobs the routes call for that the plan does not hold
        print(f"{skipped} job{'s' if skipped != 1 else ''} skipped: no model family left "
              f"(training_plan.model_families / model_families_by_route / drop_failed_families)")


# --- commands -------------------------------------------------------------------------------

@command("plan")
def cmd_plan(args: argparse.Namespace) -> int:
    from .pipeline import plan
    from .progress import Progress, is_terminal

    # One line per stage (per model with --verbose) on stderr: stdout stays the plan summary. Live
    # on a terminal; otherwise printed once the plan succeeded, so that a failure is one line.
    live = is_terminal(sys.stderr)
    stage_lines: list[str] = []
    progress = Progress(note=err if live else stage_lines.append, verbose=getattr(args, "verbose", False),
                        stream=sys.stderr)
    # With the Spark engine, --metrics may be a URI or a catalog table, validated on Spark.
    result = plan(args.metrics, config=args.config, db=args.db, out=args.out,
                  include_blocked=args.include_blocked or None, project_dir=args.project_dir, wait=args.wait,
                  dry_run=getattr(args, "dry_run", False), skip_tests=getattr(args, "skip_tests", False),
                  force=getattr(args, "force", False), progress=progress, engine=args.engine)
    for warning in result.warnings:
        err(f"warning: {warning}")
    if result.gate is not None:
        for warning in result.gate.warnings:
            err(f"warning: {warning}")
        err(result.gate.line())
    if result.unchanged:
        print(f"no changes: the published plan (run {result.run_id}) already reflects these inputs, config "
              f"and models; it stays in {result.master_plan_path} (--force to plan again)")
        return 0
    if result.ingest_report:
        for line in result.ingest_report.lines():
            err(line)
    for line in stage_lines:
        err(line)
    if result.dry_run:
        return print_dry_run(result)
    print(f"run {result.run_id}: plan written to {result.master_plan_path}")
    print_plan_summary(result.jobs_by_route, result.jobs_by_type, result.jobs_by_priority, result.total_jobs,
                       result.skipped_no_families)
    return 0


def print_dry_run(result: PlanResult) -> int:
    from .diff.diff_format import render, use_color

    if result.diff is None:
        print("dry run: nothing published yet, so there is no plan to compare with; the plan would be:")
        print_plan_summary(result.jobs_by_route, result.jobs_by_type, result.jobs_by_priority, result.total_jobs,
                           result.skipped_no_families)
    else:
        print(f"dry run: the published plan (run {result.published_run_id}) against the plan these inputs, "
              f"config and models would make:")
        print(render(result.diff, "text", color=use_color(sys.stdout)))
    print("dry run: nothing was kept or published")
    return 0


@command("demo")
def cmd_demo(args: argparse.Namespace) -> int:
    from .project import bundled_dir

    metrics = bundled_dir("examples") / "routing_candidates" / "routing_candidates.parquet"
    if not metrics.exists():
        raise InputError(f"the bundled example metrics are missing: {metrics}", path=metrics)
    print(f"demo: planning the bundled example metrics {metrics}")
    args.metrics = str(metrics)
    args.include_blocked = False
    return cmd_plan(args)  # through the test gate and the no-change check like any plan


@command("ingest")
def cmd_ingest(args: argparse.Namespace) -> int:
    from .pipeline import run_ingest

    engine = getattr(args, "engine", None) or args.project.settings.engine
    report = run_ingest(args.path, db=args.db, wait=args.wait, engine=engine, project=args.project)
    for line in report.lines():
        err(line)
    print(f"run {report.run_id}: ingested {report.input_path} ({report.input_shape})")
    return 0


@command("build")
def cmd_build(args: argparse.Namespace) -> int:
    from .pipeline import run_build

    result = run_build(db=args.db, config=args.config, project_dir=args.project_dir, run=args.run,
                       include_blocked=args.include_blocked or None, wait=args.wait,
                       skip_tests=args.skip_tests, note=err, engine=args.engine)
    print(f"run {result.run_id}: built {len(result.models)} models ({', '.join(result.models)})")
    return 0


@command("export")
def cmd_export(args: argparse.Namespace) -> int:
    from .pipeline import run_export

    result = run_export(db=args.db, out=args.out, run=args.run, wait=args.wait)
    for warning in result.warnings:
        err(f"warning: {warning}")
    print(f"run {result.run_id}: exported to {result.out_dir}")
    s = result.summary
    print_plan_summary(s["by_route"], s["by_type"], s["by_priority"], result.metadata["total_jobs"],
                       s.get("skipped_no_families", 0))
    return 0


@command("runs")
def cmd_runs(args: argparse.Namespace) -> int:
    from .analyst.runs import format_runs, list_runs, prune_runs

    if args.prune:
        if args.keep is None:
            raise UsageError("--prune needs --keep N")
        result = prune_runs(args.db, args.keep, wait=args.wait)
        print(result.summary())
        return 0
    print(format_runs(list_runs(args.db)))
    return 0


@command("diff")
def cmd_diff(args: argparse.Namespace) -> int:
    from .diff.diff_format import DEFAULT_LIMIT, render, use_color
    from .diff.plan_diff import diff

    limit = args.limit if args.limit is not None else (None if args.format == "json" else DEFAULT_LIMIT)
    if limit is not None and limit < 0:
        raise UsageError("--limit must be >= 0 (0 lists every row)")
    result = diff(args.a, args.b, db=args.db, limit=limit or None, wait=args.wait)
    print(render(result, args.format, color=args.format == "text" and use_color(sys.stdout)))
    return 1 if args.exit_code and not result.identical else 0


@command("compile")
def cmd_compile(args: argparse.Namespace) -> int:
    from .context import Context
    from .errors import ModelError
    from .render import model_order, select_models, transpile

    ctx = Context.load(args.config, project=args.project)
    rendered = ctx.renderer.render_all()
    names = select_models(rendered, args.models) if args.models else model_order(rendered)
    if args.dialect and args.dialect.lower() == "spark":
        # the session functions the models call, as the engine defines them before any model
        from .spark.transpile import SESSION_FUNCTIONS

        for statement in SESSION_FUNCTIONS:
            print(f"-- session function\n{statement};\n")
    for name in names:
        sql = rendered[name].sql
        if args.dialect and args.dialect.lower() != "duckdb":
            try:
                if args.dialect.lower() == "spark":
                    # exactly what the Spark engine runs: its relation names, then to_spark
                    from .spark.models import spark_model_sql

                    sql = spark_model_sql(ctx.renderer, name)
                else:
                    sql = transpile(sql, args.dialect)
            except ModelError as exc:
                raise ModelError(f"compile {name}: {exc.message}", model=name) from None
        if len(names) > 1:
            print(f"-- model: {name}")
        print(sql if sql.rstrip().endswith(";") else sql + ";")
        if len(names) > 1:
            print()
    return 0


@command("init")
def cmd_init(args: argparse.Namespace) -> int:
    import shlex

    from .project import describe_written, init_project
    from .sqltest.suite import copy_tests

    written = init_project(args.dir, also=copy_tests)
    print(f"initialised the project {args.dir} ({len(written)} files):")
    for line in describe_written(args.dir, written):
        print(f"  {line}")
    print("next, inside the project folder (commands there use its models; elsewhere add --project-dir):")
    print(f"  cd {shlex.quote(str(args.dir))}")
    print("  foxwarehouse test                        # the SQL unit tests of your models")
    print("  foxwarehouse compile routing_decisions   # a model's rendered SQL")
    print("  foxwarehouse plan --metrics PATH         # plan with your models, macros and config")
    return 0


@command("test")
def cmd_test(args: argparse.Namespace) -> int:
    from .sqltest.suite import run_suite

    suite = run_suite(args.paths, project_dir=args.project_dir, keyword=args.keyword, verbose=not args.quiet,
                      select=args.select, update=args.update)
    return 1 if suite.failed else 0


@command("create-test")
def cmd_create_test(args: argparse.Namespace) -> int:
    from .sqltest.create import DEFAULT_LIMIT, create_test

    created = create_test(args.model, args.db, run=args.run, where=args.where,
                          limit=DEFAULT_LIMIT if args.limit is None else args.limit, name=args.name,
                          project_dir=args.project_dir, wait=args.wait)
    print(created.summary())
    return 0


@command("validate")
def cmd_validate(args: argparse.Namespace) -> int:
    from .plan_schema import MASTER_PLAN_FILENAME, check_plan

    # The same paths load_plan and diff accept: the master file, a training_plan or export folder.
    checked = check_plan(args.path)
    if checked.stage == "locate":
        raise PlanError(f"{checked.path}: {checked.one_line()}", path=checked.path)
    kind = " (a legacy FoxML plan: no metadata.schema_version)" if checked.legacy else ""
    if not checked.ok:
        raise PlanError(f"{checked.file}: invalid training plan{kind}: {checked.one_line()}", path=checked.file)
    if checked.kind == "mirror":
        kind += f" (the training_plan.json mirror: the folder has no {MASTER_PLAN_FILENAME})"
    if checked.legacy:
        print(f"{checked.file}: valid legacy FoxML plan (no metadata.schema_version); trainers load it with a "
              "warning, export it again with foxwarehouse for a versioned plan")
        return 0
    print(f"{checked.file}: valid{kind}")
    return 0


@command("jobs")
def cmd_jobs(args: argparse.Namespace) -> int:
    from .analyst.feed import stream_jobs

    stream_jobs(args.db, sys.stdout, run=args.run, fmt=args.format, route=args.route,
                training_type=args.training_type, target=args.target, symbol=args.symbol,
                min_priority=args.min_priority, note=err)
    return 0


@command("query")
def cmd_query(args: argparse.Namespace) -> int:
    from .analyst.session import check_limit, query

    check_limit(args.limit)  # before reading stdin
    sql = sys.stdin.read() if args.sql == "-" else args.sql
    print(query(args.db, sql, fmt=args.format, wait=args.wait, limit=args.limit, project_dir=args.project_dir))
    return 0


@command("explain")
def cmd_explain(args: argparse.Namespace) -> int:
    from .analyst.explain import explain, format_explanation

    if args.symbol is not None and not args.symbol.strip():
        # A shell variable that expanded to nothing must not silently explain another decision.
        raise UsageError(f"SYMBOL is empty ({args.symbol!r}); omit SYMBOL to explain the cross-sectional "
                         f"decision of {args.target!r}, or give one of its symbols")
    result = explain(args.db, args.target, args.symbol, run=args.run, wait=args.wait, project_dir=args.project_dir)
    print(result.to_json() if args.format == "json" else format_explanation(result))
    return 0


@command("lineage")
def cmd_lineage(args: argparse.Namespace) -> int:
    import json as _json

    from .analyst.lineage import LineageGraph, format_model, format_trace, parse_target
    from .context import Context

    ctx = Context.load(args.config, project=args.project)
    graph = LineageGraph(ctx.project, ctx.config, renderer=ctx.renderer)
    model, column = parse_target(args.target)
    if column is None:
        if args.format == "json":
            print(_json.dumps({c: vars(i) for c, i in graph.columns(model).items()}, indent=2))
        else:
            print(format_model(graph, model))
        return 0
    result = graph.trace(model, column)
    print(_json.dumps(result, indent=2) if args.format == "json" else format_trace(result, graph.config))
    return 0


@command("docs")
def cmd_docs(args: argparse.Namespace) -> int:
    from .analyst.catalog import write_catalog
    from .context import Context

    ctx = Context.load(args.config, project=args.project)
    path = write_catalog(ctx.project, ctx.config, args.out, db=args.db, renderer=ctx.renderer)
    print(f"model catalog written to {path}")
    return 0


@command("report")
def cmd_report(args: argparse.Namespace) -> int:
    from .analyst.report import write_report

    path = write_report(args.db, args.out, run=args.run, wait=args.wait, project_dir=args.project_dir)
    print(f"report written to {path}")
    return 0


# --- parser ---------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="foxwarehouse",
        description="A relational, SQL-first plan warehouse for ML training routing.",
    )
    parser.add_argument("--version", action="version", version=f"foxwarehouse {__version__}")
    parser.add_argument("--project-dir", metavar="DIR", default=argparse.SUPPRESS, help=PROJECT_DIR_HELP)
    parser.add_argument("--db", metavar="FILE", default=argparse.SUPPRESS, help=DB_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--project-dir", metavar="DIR", default=argparse.SUPPRESS, help=PROJECT_DIR_HELP)
        return p

    def db(p: argparse.ArgumentParser) -> None:
        p.add_argument("--db", default=argparse.SUPPRESS, metavar="FILE", help=DB_HELP)
        p.add_argument("--wait", type=wait_seconds, default=0.0, metavar="SECONDS",
                       help="wait this long for a busy warehouse instead of failing")

    def skip_tests(p: argparse.ArgumentParser) -> None:
        p.add_argument("--skip-tests", action="store_true",
                       help="do not run the project's SQL unit tests first (by default they run once per "
                            "version of the models and tests, and a failing case stops with exit 1)")

    def force(p: argparse.ArgumentParser) -> None:
        p.add_argument("--force", action="store_true",
                       help="plan even when the inputs, config and models are those of the published plan")

    def verbose(p: argparse.ArgumentParser) -> None:
        p.add_argument("-v", "--verbose", action="store_true",
                       help="also print how long each model took (each stage's time is always printed)")

    def engine(p: argparse.ArgumentParser, what: str = "where the models run") -> None:
        p.add_argument("--engine", metavar="ENGINE",
                       help=f"{what}: duckdb (the default) or spark (pip install 'foxwarehouse[spark]'); "
                            "or engine: in foxwarehouse.yml")

    def cfg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", metavar="FILE",
                       help="routing config (default config/routing_config.yaml, else the packaged default)")

    p = add("plan", "ingest metrics, build the plan and export it")
    p.add_argument("--metrics", metavar="PATH",
                   help="routing_candidates file or metrics directory (default: metrics: in foxwarehouse.yml)")
    cfg(p)
    db(p)
    p.add_argument("--out", metavar="DIR", help=OUT_HELP)
    p.add_argument("--include-blocked", action="store_true", help="also emit blocked jobs (priority 0)")
    p.add_argument("--dry-run", action="store_true",
                   help="build into a temporary run, print the diff against the published plan, keep and "
                        "publish nothing")
    skip_tests(p)
    force(p)
    engine(p)
    verbose(p)

    p = add("demo", "run the whole pipeline on the bundled example metrics")
    cfg(p)
    db(p)
    p.add_argument("--out", metavar="DIR", help=OUT_HELP)
    skip_tests(p)
    force(p)
    verbose(p)

    p = add("ingest", "load a metrics file or directory as a new run")
    p.add_argument("path", metavar="PATH")
    db(p)
    engine(p, "where a URI (s3a://, hdfs://, file://...) or spark.table:NAME is read")

    p = add("build", "run the SQL models for the latest ingested run")
    cfg(p)
    db(p)
    p.add_argument("--run", metavar="RUN", help="run to build (default: latest)")
    p.add_argument("--include-blocked", action="store_true", help="also emit blocked jobs (priority 0)")
    skip_tests(p)
    engine(p)

    p = add("export", "write the plan files of the latest built run")
    db(p)
    p.add_argument("--out", metavar="DIR", help=OUT_HELP)
    p.add_argument("--run", metavar="RUN", help="run to export (default: latest)")

    p = add("runs", "list runs")
    db(p)
    p.add_argument("--prune", action="store_true",
                   help="delete older runs (failed and never-built ones too) and shrink the warehouse file; "
                        "the published run is always kept")
    p.add_argument("--keep", type=int, metavar="N",
                   help="with --prune: how many newest successful (built or exported) runs to keep, N >= 1")

    p = add("diff", "compare two plans: jobs, decisions (route transitions) and config keys")
    p.add_argument("a", metavar="A",
                   help="run id (or unique prefix), latest, latest~N, published, or a master_training_plan.json")
    p.add_argument("b", metavar="B", help="the same kinds of reference as A")
    db(p)
    p.add_argument("--format", choices=("text", "json", "markdown"), default="text", help="output format (default text)")
    p.add_argument("--exit-code", action="store_true", help="exit 1 when the plans differ, 0 when they do not")
    p.add_argument("--limit", type=int, metavar="N",
                   help="rows listed per section (default 50 for text/markdown, all for json; 0 = all)")

    p = add("compile", "print the rendered SQL of models (default: all, in dependency order)")
    p.add_argument("models", nargs="*", metavar="MODEL",
                   help="a model; MODEL+ adds its downstream models, +MODEL its upstream ones")
    p.add_argument("--dialect", metavar="D", help="transpile with sqlglot to dialect D (e.g. spark, postgres)")
    cfg(p)

    p = add("init", "make a project in DIR for a team to own: foxwarehouse.yml and copies of sql/, macros/, "
                    "config/ and the SQL unit tests (never overwrites a file)")
    p.add_argument("dir", metavar="DIR")

    p = add("test", "run the SQL unit tests (tests/sql/*.yaml): exit 1 if any case fails")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="test files or folders (default: the project's tests/sql, else ./tests/sql)")
    p.add_argument("-s", "--select", action="append", metavar="MODEL",
                   help="only the cases of MODEL; MODEL+ adds its downstream models, +MODEL its upstream ones "
                        "(repeat or separate with commas)")
    p.add_argument("-k", dest="keyword", metavar="TEXT",
                   help="only cases whose id (file::case) contains TEXT (exit 2 when none does)")
    p.add_argument("-q", "--quiet", action="store_true", help="print failures and the summary only")
    p.add_argument("--update", action="store_true",
                   help="rewrite the expect of every failed case with what its model (or macro) gives now, "
                        "leaving the rest of the file as it is; exit 0 when the updated cases then pass")

    p = add("create-test", "write a SQL unit-test case for MODEL from a run's rows into the project's "
                           "tests/sql/MODEL.yaml: the rows it reads as given, its output as expect")
    p.add_argument("model", metavar="MODEL")
    db(p)
    p.add_argument("--run", metavar="RUN", help="run (default: latest; also published, latest~N, an id)")
    p.add_argument("--where", metavar="SQL",
                   help="only output rows matching this SQL predicate over the model's output columns, "
                        "e.g. \"target = 'fwd_ret_15m' AND route = 'ROUTE_BOTH'\"")
    p.add_argument("--limit", type=int, metavar="N",
                   help="at most N output rows, in a stable order (default 10; 0 = every chosen row)")
    p.add_argument("--name", metavar="CASE", help="the case name (default from_run_<run>; never replaces a case)")

    p = add("jobs", "stream a run's jobs for external schedulers (JSON lines or CSV); by default the "
                    "published run, the plan the trainer reads")
    db(p)
    p.add_argument("--run", metavar="RUN",
                   help="run: published (default: the run whose plan was exported last), latest, latest~N, or an id")
    p.add_argument("--format", choices=("jsonl", "csv"), default="jsonl", help="output format (default jsonl)")
    p.add_argument("--route", metavar="ROUTE", help=f"only this route ({', '.join(ROUTES)}; any case)")
    p.add_argument("--training-type", metavar="TYPE", help=f"only this training type ({', '.join(TRAINING_TYPES)})")
    p.add_argument("--target", metavar="TARGET", help="only this target (a note on stderr when the run has none)")
    p.add_argument("--symbol", metavar="SYMBOL", help="only this symbol (a note on stderr when the run has none)")
    p.add_argument("--min-priority", type=int, metavar="N", help="only jobs of priority N or more")

    p = add("validate", "check a master_training_plan.json against the plan schema")
    p.add_argument("path", metavar="PATH",
                   help="the master file, or the training_plan or export folder holding it (as load_plan and diff)")

    p = add("query", "run read-only SQL on the warehouse (latest_* and published_* views, per-run tables): "
                     "SELECT, WITH, VALUES, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN; statements that write a "
                     "file or change state (COPY ... TO, EXPORT, INSTALL, LOAD, ATTACH, SET, CREATE, ...) "
                     "are refused")
    p.add_argument("sql", metavar="SQL", help="the query; - reads it from stdin")
    db(p)
    p.add_argument("--format", choices=("table", "csv", "json"), default="table", help="output format (default table)")
    p.add_argument("--limit", type=int, metavar="N", help="print at most N rows (N >= 0; 0 prints the column names only)")

    p = add("explain", "why a decision was made: inputs, thresholds, every rule in order, cap, jobs")
    p.add_argument("target", metavar="TARGET")
    p.add_argument("symbol", nargs="?", metavar="SYMBOL", help="a symbol of TARGET (omit for the CS decision)")
    db(p)
    p.add_argument("--run", metavar="RUN", help="run (default: latest; also published, latest~N, an id)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")

    p = add("lineage", "column-level lineage of MODEL.COLUMN down to source columns and config keys")
    p.add_argument("target", metavar="MODEL.COLUMN", help="e.g. routing_decisions.route (MODEL alone: every column)")
    cfg(p)
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")

    p = add("docs", "write the model catalog (Markdown): DAG, columns, descriptions, tests")
    cfg(p)
    db(p)
    p.add_argument("--out", default="docs/CATALOG.md", metavar="FILE",
                   help="output file (default docs/CATALOG.md); never the warehouse, a file inside a "
                        "published plan, or an existing file foxwarehouse did not write")

    p = add("report", "write a self-contained HTML report of a run (charts, diff against the previous run); "
                      "by default the published run, the plan the trainer reads")
    db(p)
    p.add_argument("--run", metavar="RUN",
                   help="run: published (default: the run whose plan was exported last), latest, latest~N, or an id")
    p.add_argument("--out", default="report.html", metavar="FILE",
                   help="output file (default report.html); never the warehouse, a file inside a published "
                        "plan, or an existing file foxwarehouse did not write")

    for extra in _extra_parsers:
        extra(add)
    return parser


PROJECT_DIR_HELP = (f"the project to use (default: ${PROJECT_DIR_ENV}, else the nearest folder from here upwards "
                    f"holding {PROJECT_FILE}, else the packaged models)")
DB_HELP = f"warehouse file (default: $FOXWAREHOUSE_DB, else db: in {PROJECT_FILE}, else {DEFAULT_DB})"
OUT_HELP = f"export folder (default: out: in {PROJECT_FILE}, else {DEFAULT_OUT})"


def apply_project(args: argparse.Namespace) -> None:
    """Resolve the project once for the command and fill in the defaults it sets.

    ``args.project`` is the Project (foxwarehouse.project.load_project decides which);
    ``args.project_dir`` its folder (None for the packaged models), so library calls given it use
    the same one. ``--db`` beats $FOXWAREHOUSE_DB, which beats the project file; ``--out`` and
    ``--metrics`` beat the project file.
    """
    from .project import check_engine, load_project

    if args.command in NO_PROJECT:
        args.project, args.project_dir = None, None
        return
    project = load_project(getattr(args, "project_dir", None))
    args.project = project
    args.project_dir = str(project.root) if project.root is not None else None
    settings = project.settings
    args.db = getattr(args, "db", None) or os.environ.get(DB_ENV) or settings.db or DEFAULT_DB
    if getattr(args, "out", DEFAULT_OUT) is None:
        args.out = settings.out or DEFAULT_OUT
    if getattr(args, "engine", None) is not None:
        args.engine = check_engine(args.engine, "--engine")
    else:
        args.engine = settings.engine
    if args.command == "plan" and getattr(args, "metrics", None) is None:
        if settings.metrics is None:
            where = f"{project.project_file}" if project.project_file else f"a project's {PROJECT_FILE}"
            raise UsageError(f"plan needs --metrics PATH or metrics: in {where}; "
                             f"usage: foxwarehouse plan --metrics PATH [options]")
        args.metrics = settings.metrics


DB_ENV = "FOXWAREHOUSE_DB"
NO_PROJECT = frozenset({"init", "validate"})  # they use neither a project nor a warehouse

_extra_parsers: list[Callable[[Callable[[str, str], argparse.ArgumentParser]], None]] = []


class _Parser(argparse.ArgumentParser):
    pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if not args.command:
        parser.print_help()
        return 2
    try:
        apply_project(args)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return COMMANDS[args.command](args)
    except FoxError as exc:
        if interrupts.signalled() is not None:   # raised while unwinding from Ctrl-C / SIGTERM
            return interrupts.report(exc)
        # An error is one line whatever names it quotes (a newline or NUL in a file, column or key
        # name is shown as an escape), except the kinds that list rows or SQL on purpose.
        err(f"error: {visible_controls(exc.message, backslash=False) if exc.one_line else exc.message}")
        return exc.exit_code
    except KeyboardInterrupt as exc:   # Ctrl-C, or SIGTERM (interrupts.Terminated): one line, 130 / 143
        return interrupts.report(exc)
    except BrokenPipeError:
        return 0
    except RuntimeError as exc:
        # DuckDB turns a signal it notices itself into "RuntimeError: Query interrupted".
        if interrupts.signalled() is None and "interrupted" not in str(exc).lower():
            raise
        return interrupts.report(exc)
    except (OSError, duckdb.Error) as exc:
        # The last net of the one-line rule: a full disk, a refused write or a damaged warehouse that no
        # library function turned into a FoxError is still one line naming the file, exit 2.
        if isinstance(exc, duckdb.InterruptException) or interrupts.signalled() is not None:
            return interrupts.report(exc)
        from .file_errors import command_failure

        err(f"error: {command_failure(getattr(args, 'db', None), exc)}")
        return 2


def entry() -> None:
    """The console script of installs made before foxwarehouse/__main__.py took that role."""
    from .__main__ import entry as process_entry

    process_entry()


if __name__ == "__main__":
    entry()
