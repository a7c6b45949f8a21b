"""The command line: parses arguments and calls library functions; nothing else lives here.

Exit codes: 0 ok, 1 differences (diff --exit-code) or failing SQL tests, 2 usage or input error.
Every FoxError becomes one line on stderr; no tracebacks.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from . import __version__
from .errors import FoxError, InputError, PlanError, UsageError
from .pipeline import DEFAULT_DB, DEFAULT_OUT
from .vocabulary import ROUTES, TRAINING_TYPES

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str) -> Callable:
    def register(fn: Callable[[argparse.Namespace], int]) -> Callable:
        COMMANDS[name] = fn
        return fn
    return register


def err(message: str) -> None:
    print(message, file=sys.stderr)


def print_plan_summary(by_route: dict, by_type: dict, by_priority: dict, total: int) -> None:
    print(f"jobs: {total}")
    for title, counts in (("by route", by_route), ("by type", by_type), ("by priority", by_priority)):
        print(f"  {title}:")
        for key, value in counts.items():
            print(f"    {key:<26} {value:>8}")


# --- commands -------------------------------------------------------------------------------

@command("plan")
def cmd_plan(args: argparse.Namespace) -> int:
    from .pipeline import plan

    result = plan(args.metrics, config=args.config, db=args.db, out=args.out,
                  include_blocked=args.include_blocked or None, project_dir=args.project_dir, wait=args.wait)
    for warning in result.warnings:
        err(f"warning: {warning}")
    if result.ingest_report:
        for line in result.ingest_report.lines():
            err(line)
    print(f"run {result.run_id}: plan written to {result.master_plan_path}")
    print_plan_summary(result.jobs_by_route, result.jobs_by_type, result.jobs_by_priority, result.total_jobs)
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
    return cmd_plan(args)


@command("ingest")
def cmd_ingest(args: argparse.Namespace) -> int:
    from .pipeline import run_ingest

    report = run_ingest(args.path, db=args.db, wait=args.wait)
    for line in report.lines():
        err(line)
    print(f"run {report.run_id}: ingested {report.input_path} ({report.input_shape})")
    return 0


@command("build")
def cmd_build(args: argparse.Namespace) -> int:
    from .pipeline import run_build

    result = run_build(db=args.db, config=args.config, project_dir=args.project_dir, run=args.run,
                       include_blocked=args.include_blocked or None, wait=args.wait)
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
    print_plan_summary(s["by_route"], s["by_type"], s["by_priority"], result.metadata["total_jobs"])
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
    from .render import model_order, transpile

    ctx = Context.load(args.config, args.project_dir)
    rendered = ctx.renderer.render_all()
    names = [args.model] if args.model else model_order(rendered)
    for name in names:
        if name not in rendered:
            raise UsageError(f"unknown model {name!r}; models: {', '.join(sorted(rendered))}", model=name)
        sql = rendered[name].sql
        if args.dialect and args.dialect.lower() != "duckdb":
            sql = transpile(sql, args.dialect)
        if len(names) > 1:
            print(f"-- model: {name}")
        print(sql if sql.rstrip().endswith(";") else sql + ";")
        if len(names) > 1:
            print()
    return 0


@command("init")
def cmd_init(args: argparse.Namespace) -> int:
    from .project import init_project
    from .sqltest.suite import copy_tests

    written = init_project(args.dir)
    written += copy_tests(args.dir)
    print(f"initialised {args.dir}: {len(written)} files (sql/, macros/, config/, tests/sql/)")
    print(f"use it with: foxwarehouse --project-dir {args.dir} plan --metrics PATH")
    print(f"test your models with: foxwarehouse --project-dir {args.dir} test")
    return 0


@command("test")
def cmd_test(args: argparse.Namespace) -> int:
    from .sqltest.suite import run_suite

    suite = run_suite(args.paths, project_dir=args.project_dir, keyword=args.keyword, verbose=not args.quiet)
    return 1 if suite.failed else 0


@command("validate")
def cmd_validate(args: argparse.Namespace) -> int:
    from .plan_schema import validate_plan_file

    path = Path(args.path)
    if path.is_dir():
        path = path / "master_training_plan.json"
    problems = validate_plan_file(path)
    if problems:
        raise PlanError(f"{path}: invalid training plan:\n  " + "\n  ".join(problems), path=path)
    print(f"{path}: valid")
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
    from .analyst.session import query

    if args.limit is not None and args.limit < 0:
        raise UsageError("--limit must be >= 0")
    sql = sys.stdin.read() if args.sql == "-" else args.sql
    print(query(args.db, sql, fmt=args.format, wait=args.wait, limit=args.limit))
    return 0


@command("explain")
def cmd_explain(args: argparse.Namespace) -> int:
    from .analyst.explain import explain, format_explanation

    result = explain(args.db, args.target, args.symbol, run=args.run, wait=args.wait, project_dir=args.project_dir)
    print(result.to_json() if args.format == "json" else format_explanation(result))
    return 0


@command("lineage")
def cmd_lineage(args: argparse.Namespace) -> int:
    import json as _json

    from .analyst.lineage import LineageGraph, format_model, format_trace, parse_target
    from .context import Context

    ctx = Context.load(args.config, args.project_dir)
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

    ctx = Context.load(args.config, args.project_dir)
    path = write_catalog(ctx.project, ctx.config, args.out, db=args.db, renderer=ctx.renderer)
    print(f"model catalog written to {path}")
    return 0


@command("report")
def cmd_report(args: argparse.Namespace) -> int:
    from .analyst.report import write_report

    path = write_report(args.db, args.out, run=args.run, wait=args.wait)
    print(f"report written to {path}")
    return 0


# --- parser ---------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="foxwarehouse",
        description="A relational, SQL-first plan warehouse for ML training routing.",
    )
    parser.add_argument("--version", action="version", version=f"foxwarehouse {__version__}")
    parser.add_argument("--project-dir", metavar="DIR", help="use the models, macros and config of DIR (see init)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--project-dir", metavar="DIR", default=argparse.SUPPRESS,
                       help="use the models, macros and config of DIR (see init)")
        return p

    def db(p: argparse.ArgumentParser) -> None:
        p.add_argument("--db", default=DEFAULT_DB, metavar="FILE", help=f"warehouse file (default {DEFAULT_DB})")
        p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                       help="wait this long for a busy warehouse instead of failing")

    def cfg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", metavar="FILE",
                       help="routing config (default config/routing_config.yaml, else the packaged default)")

    p = add("plan", "ingest metrics, build the plan and export it")
    p.add_argument("--metrics", required=True, metavar="PATH", help="routing_candidates file or metrics directory")
    cfg(p)
    db(p)
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help=f"export folder (default {DEFAULT_OUT})")
    p.add_argument("--include-blocked", action="store_true", help="also emit blocked jobs (priority 0)")

    p = add("demo", "run the whole pipeline on the bundled example metrics")
    cfg(p)
    db(p)
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help=f"export folder (default {DEFAULT_OUT})")

    p = add("ingest", "load a metrics file or directory as a new run")
    p.add_argument("path", metavar="PATH")
    db(p)

    p = add("build", "run the SQL models for the latest ingested run")
    cfg(p)
    db(p)
    p.add_argument("--run", metavar="RUN", help="run to build (default: latest)")
    p.add_argument("--include-blocked", action="store_true", help="also emit blocked jobs (priority 0)")

    p = add("export", "write the plan files of the latest built run")
    db(p)
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help=f"export folder (default {DEFAULT_OUT})")
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

    p = add("compile", "print the rendered SQL of a model (or all models)")
    p.add_argument("model", nargs="?", metavar="MODEL")
    p.add_argument("--dialect", metavar="D", help="transpile with sqlglot to dialect D (e.g. spark, postgres)")
    cfg(p)

    p = add("init", "copy sql/, macros/, config/ and the SQL unit tests into DIR for a team to own")
    p.add_argument("dir", metavar="DIR")

    p = add("test", "run the SQL unit tests (tests/sql/*.yaml): exit 1 if any case fails")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="test files or folders (default: DIR/tests/sql with --project-dir, else ./tests/sql)")
    p.add_argument("-k", dest="keyword", metavar="TEXT",
                   help="only cases whose id (file::case) contains TEXT (exit 2 when none does)")
    p.add_argument("-q", "--quiet", action="store_true", help="print failures and the summary only")

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
    p.add_argument("path", metavar="PATH")

    p = add("query", "run read-only SQL on the warehouse (latest_* and published_* views, per-run tables): "
                     "SELECT, WITH, VALUES, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN; statements that write a "
                     "file or change state (COPY ... TO, EXPORT, INSTALL, LOAD, ATTACH, SET, CREATE, ...) "
                     "are refused")
    p.add_argument("sql", metavar="SQL", help="the query; - reads it from stdin")
    db(p)
    p.add_argument("--format", choices=("table", "csv", "json"), default="table", help="output format (default table)")
    p.add_argument("--limit", type=int, metavar="N", help="print at most N rows (N >= 0)")

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
    if not hasattr(args, "project_dir"):
        args.project_dir = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return COMMANDS[args.command](args)
    except FoxError as exc:
        err(f"error: {exc.message}")
        return exc.exit_code
    except KeyboardInterrupt:
        err("interrupted")
        return 130
    except BrokenPipeError:
        return 0


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
