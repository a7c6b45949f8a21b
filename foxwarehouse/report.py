"""`foxwarehouse report`: one self-contained HTML file describing a run.

Inline CSS and inline SVG only: no script, no font, no image, no link to anything outside the file,
so it opens anywhere (and offline). Sections: the run's metadata and totals, the route distribution
per target (stacked bars), jobs by priority, by model family and by training type, the CS state of
every target, and the diff against the previous built run (jobs by route side by side, route
transitions, config changes, the first changed decisions) computed by ``foxwarehouse.diff``.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Sequence

from .analyst import AnalystWarehouse
from .atomic import write_text_atomic
from .errors import FoxError

ROUTE_ORDER = ("ROUTE_BOTH", "ROUTE_SYMBOL_SPECIFIC", "ROUTE_CROSS_SECTIONAL", "ROUTE_EXPERIMENTAL_ONLY", "ROUTE_BLOCKED")
ROUTE_COLORS = {
    "ROUTE_BOTH": "#2b6cb0", "ROUTE_SYMBOL_SPECIFIC": "#38a169", "ROUTE_CROSS_SECTIONAL": "#805ad5",
    "ROUTE_EXPERIMENTAL_ONLY": "#dd6b20", "ROUTE_BLOCKED": "#a0aec0",
}
PALETTE = ("#2b6cb0", "#38a169", "#805ad5", "#dd6b20", "#d53f8c", "#319795", "#b7791f", "#718096")
MAX_TARGETS = 60          # the per-target chart shows the targets with most pairs
DIFF_ROWS = 20

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1100px;color:#1a202c;padding:0 16px}
h1{font-size:22px;margin-bottom:4px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #e2e8f0;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}td,th{border:1px solid #e2e8f0;padding:3px 8px;text-align:left}
th{background:#f7fafc}td.n{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#718096;font-size:13px}
.grid{display:flex;flex-wrap:wrap;gap:24px}.card{flex:1 1 320px}svg text{font-size:11px;fill:#2d3748}
.legend span{display:inline-block;margin-right:14px;font-size:12px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[int] = ()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td class='n'>{_e(v)}</td>" if i in numeric else f"<td>{_e(v)}</td>"
                         for i, v in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _legend(names: Sequence[str], colors: dict[str, str]) -> str:
    return "<div class='legend'>" + "".join(
        f"<span><i style='background:{colors[n]}'></i>{_e(n)}</span>" for n in names) + "</div>"


def stacked_bars(rows: Sequence[tuple[str, dict[str, int]]], segments: Sequence[str], colors: dict[str, str],
                 title: str, bar_w: int = 520) -> str:
    """Horizontal stacked bars: one bar per label, one segment per series, counts at the end."""
    label_w, row_h = 160, 20
    total_max = max([sum(c.values()) for _, c in rows] + [1])
    height = row_h * len(rows) + 10
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' role='img' width='{label_w + bar_w + 60}' height='{height}' "
             f"viewBox='0 0 {label_w + bar_w + 60} {height}'><title>{_e(title)}</title>"]
    for i, (label, counts) in enumerate(rows):
        y = 5 + i * row_h
        parts.append(f"<text x='{label_w - 6}' y='{y + 13}' text-anchor='end'>{_e(label[:28])}</text>")
        x = float(label_w)
        for seg in segments:
            n = counts.get(seg, 0)
            if not n:
                continue
            w = bar_w * n / total_max
            parts.append(f"<rect x='{x:.1f}' y='{y + 2}' width='{max(w, 0.5):.1f}' height='{row_h - 5}' "
                         f"fill='{colors[seg]}'><title>{_e(label)}: {_e(seg)} = {n}</title></rect>")
            x += w
        parts.append(f"<text x='{x + 4:.1f}' y='{y + 13}'>{sum(counts.values())}</text>")
    parts.append("</svg>")
    return "".join(parts)


def bars(items: Sequence[tuple[str, int]], title: str, color: str = "#2b6cb0") -> str:
    """Horizontal bars with a value label."""
    return stacked_bars([(str(label), {"v": n}) for label, n in items], ["v"], {"v": color}, title, bar_w=260)


def grouped_bars(labels: Sequence[str], a: dict[str, int], b: dict[str, int], names: tuple[str, str], title: str) -> str:
    """Two bars per label (previous run vs this run)."""
    label_w, bar_w, row_h = 200, 460, 30
    top = max([a.get(x, 0) for x in labels] + [b.get(x, 0) for x in labels] + [1])
    height = row_h * len(labels) + 10
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' role='img' width='{label_w + bar_w + 60}' height='{height}' "
             f"viewBox='0 0 {label_w + bar_w + 60} {height}'><title>{_e(title)}</title>"]
    for i, label in enumerate(labels):
        y = 5 + i * row_h
        parts.append(f"<text x='{label_w - 6}' y='{y + 16}' text-anchor='end'>{_e(label)}</text>")
        for j, (side, color) in enumerate(((a, "#a0aec0"), (b, "#2b6cb0"))):
            n = side.get(label, 0)
            w = bar_w * n / top
            yy = y + 2 + j * 12
            parts.append(f"<rect x='{label_w}' y='{yy}' width='{max(w, 0.5):.1f}' height='11' fill='{color}'>"
                         f"<title>{_e(label)}: {_e(names[j])} = {n}</title></rect>")
            parts.append(f"<text x='{label_w + w + 4:.1f}' y='{yy + 9}'>{n}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _rows(aw: AnalystWarehouse, sql: str, params: list[Any]) -> list[tuple]:
    return aw.con.execute(sql, params).fetchall()


def collect(db: str | Path, run: str | None = None, wait: float = 0.0) -> dict[str, Any]:
    """Everything the report shows, read from the warehouse (read-only)."""
    with AnalystWarehouse(db, wait=wait) as aw:
        run_id = aw.run_id(run)
        info = aw.run_info(run_id)
        tables = set(aw.tables())
        missing = {"routing_decisions", "training_jobs", "cs_decisions"} - tables
        if missing:
            raise FoxError(f"the warehouse has no {', '.join(sorted(missing))} table; build a plan first")
        data: dict[str, Any] = {"run": info, "run_id": run_id}
        data["routes"] = _rows(aw, "SELECT target, route, count(*) FROM routing_decisions WHERE run_id = ? "
                                   "GROUP BY ALL ORDER BY target, route", [run_id])
        data["by_priority"] = _rows(aw, "SELECT priority, count(*) FROM training_jobs WHERE run_id = ? "
                                        "GROUP BY ALL ORDER BY priority DESC", [run_id])
        data["by_family"] = _rows(aw, "SELECT f, count(*) FROM (SELECT unnest(model_families) AS f FROM training_jobs "
                                      "WHERE run_id = ?) GROUP BY ALL ORDER BY 2 DESC, 1", [run_id])
        data["by_type"] = _rows(aw, "SELECT training_type, count(*) FROM training_jobs WHERE run_id = ? "
                                    "GROUP BY ALL ORDER BY 2 DESC, 1", [run_id])
        data["jobs_by_route"] = dict(_rows(aw, "SELECT route, count(*) FROM training_jobs WHERE run_id = ? GROUP BY ALL",
                                           [run_id]))
        data["cs"] = _rows(aw, "SELECT c.target, c.cs_state, c.route, c.reason_code, "
                               "(SELECT count(*) FROM routing_decisions d WHERE d.run_id = c.run_id AND d.target = c.target), "
                               "(SELECT count(*) FROM training_jobs j WHERE j.run_id = c.run_id AND j.target = c.target) "
                               "FROM cs_decisions c WHERE c.run_id = ? ORDER BY c.target", [run_id])
        data["totals"] = {
            "targets": len(data["cs"]),
            "pairs": sum(n for _, _, n in data["routes"]),
            "jobs": _rows(aw, "SELECT count(*) FROM training_jobs WHERE run_id = ?", [run_id])[0][0],
        }
        prev = _rows(aw, "SELECT run_id FROM runs WHERE status IN ('built', 'exported') AND seq < "
                         "(SELECT seq FROM runs WHERE run_id = ?) ORDER BY seq DESC LIMIT 1", [run_id])
        data["previous"] = prev[0][0] if prev else None
        if data["previous"]:
            data["prev_jobs_by_route"] = dict(_rows(
                aw, "SELECT route, count(*) FROM training_jobs WHERE run_id = ? GROUP BY ALL", [data["previous"]]))
    data["diff"] = None
    if data["previous"]:
        try:
            from .diff import diff

            data["diff"] = diff(data["previous"], run_id, db=db, limit=DIFF_ROWS, wait=wait).data
        except FoxError as exc:
            data["diff_error"] = exc.message
    return data


def render_html(data: dict[str, Any]) -> str:
    run = data["run"]
    t = data["totals"]
    out = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
           "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">",
           f"<title>foxwarehouse report {_e(data['run_id'])}</title><style>{CSS}</style></head><body>",
           f"<h1>Training plan report</h1><p class='muted'>run <b id='run-id'>{_e(data['run_id'])}</b> · status "
           f"{_e(run.get('status'))} · built {_e(str(run.get('built_at') or '')[:19])} · input {_e(run.get('input_path'))}</p>"]
    out.append(_table(["targets", "pairs", "jobs", "config hash", "plan fingerprint"],
                      [[t["targets"], t["pairs"], t["jobs"], (run.get("config_hash") or "")[:12],
                        (run.get("plan_fingerprint") or "")[:12]]], numeric=(0, 1, 2)))

    by_target: dict[str, dict[str, int]] = {}
    for target, route, n in data["routes"]:
        by_target.setdefault(target, {})[route] = n
    rows = sorted(by_target.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    shown = rows[:MAX_TARGETS]
    routes = [r for r in ROUTE_ORDER if any(r in c for _, c in rows)] + sorted(
        {r for _, c in rows for r in c} - set(ROUTE_ORDER))
    colors = {**ROUTE_COLORS, **{r: PALETTE[i % len(PALETTE)] for i, r in enumerate(routes) if r not in ROUTE_COLORS}}
    out.append("<h2 id='routes'>Route distribution per target</h2>")
    if rows:
        note = f" (the {MAX_TARGETS} targets with most pairs of {len(rows)})" if len(rows) > MAX_TARGETS else ""
        out.append(f"<p class='muted'>pairs (target, symbol) by final route{note}</p>")
        out.append(_legend(routes, colors))
        out.append(stacked_bars(shown, routes, colors, "route distribution per target"))
    else:
        out.append("<p class='muted'>no (target, symbol) pairs in this run</p>")

    out.append("<h2 id='jobs'>Jobs</h2><div class='grid'>")
    out.append("<div class='card'><h3>by priority</h3>" + (bars([(f"priority {p}", n) for p, n in data["by_priority"]],
                                                                  "jobs by priority") if data["by_priority"] else "<p class='muted'>no jobs</p>") + "</div>")
    out.append("<div class='card'><h3>by model family</h3>" + (bars(data["by_family"], "jobs by model family", "#38a169")
                                                                 if data["by_family"] else "<p class='muted'>no jobs</p>") + "</div>")
    out.append("<div class='card'><h3>by training type</h3>" + (bars(data["by_type"], "jobs by training type", "#805ad5")
                                                                  if data["by_type"] else "<p class='muted'>no jobs</p>") + "</div>")
    out.append("</div>")

    out.append("<h2 id='targets'>Targets</h2>")
    out.append(_table(["target", "cs_state", "cross-sectional", "reason", "pairs", "jobs"], data["cs"], numeric=(4, 5)))

    out.append("<h2 id='diff'>Changes since the previous run</h2>")
    out.append(_diff_html(data))
    out.append("<p class='muted'>generated by foxwarehouse report</p></body></html>")
    return "\n".join(out) + "\n"


def _diff_html(data: dict[str, Any]) -> str:
    if not data.get("previous"):
        return "<p class='muted'>no previous built run to compare with</p>"
    if data.get("diff") is None:
        return f"<p class='muted'>diff against {_e(data['previous'])} unavailable: {_e(data.get('diff_error'))}</p>"
    d = data["diff"]
    out = [f"<p>previous run <b>{_e(data['previous'])}</b> → this run. "
           + ("<b>The plans are identical.</b>" if d.get("identical") else "") + "</p>"]
    jc = d["jobs"]["counts"]
    out.append(_table(["", "previous", "this run", "added", "removed", "changed", "unchanged"],
                      [["jobs", jc["a"], jc["b"], jc["added"], jc["removed"], jc["changed"], jc["unchanged"]]]
                      + ([["decisions", d["decisions"]["counts"]["a"], d["decisions"]["counts"]["b"],
                           d["decisions"]["counts"]["added"], d["decisions"]["counts"]["removed"],
                           d["decisions"]["counts"]["changed"], d["decisions"]["counts"]["unchanged"]]]
                         if d["decisions"].get("available") else []), numeric=(1, 2, 3, 4, 5, 6)))
    a, b = data.get("prev_jobs_by_route", {}), data["jobs_by_route"]
    labels = [r for r in ROUTE_ORDER if r in a or r in b] + sorted((set(a) | set(b)) - set(ROUTE_ORDER))
    if labels:
        out.append("<p class='muted'>jobs by route: previous (grey) vs this run (blue)</p>")
        out.append(grouped_bars(labels, a, b, ("previous", "this run"), "jobs by route, previous vs this run"))
    transitions = d["decisions"].get("transitions") or []
    if transitions:
        out.append("<h3>Route transitions</h3>")
        out.append(_table(["kind", "from", "to", "count"],
                          [[x.get("kind"), x.get("a"), x.get("b"), x.get("count")] for x in transitions], numeric=(3,)))
    changes = (d.get("config") or {}).get("changes") or []
    if changes:
        out.append("<h3>Config changes</h3>")
        out.append(_table(["key", "change", "previous", "this run"],
                          [[c.get("key"), c.get("change"), c.get("a"), c.get("b")] for c in changes]))
    changed = d["decisions"].get("changed") or []
    if changed:
        out.append(f"<h3>Changed decisions (first {len(changed)} of {d['decisions']['counts']['changed']})</h3>")
        out.append(_table(["target", "symbol", "changed", "previous route", "route"],
                          [[c.get("target"), c.get("symbol"), ", ".join(c.get("changed") or []),
                            (c.get("a") or {}).get("route"), (c.get("b") or {}).get("route")] for c in changed]))
    for title, key in (("Added jobs", "added"), ("Removed jobs", "removed")):
        items = d["jobs"].get(key) or []
        if items:
            out.append(f"<h3>{title} (first {len(items)} of {jc[key]})</h3>")
            out.append(_table(["job_id", "route", "priority"],
                              [[j.get("job_id"), (j.get("b") or j.get("a") or {}).get("route"),
                                (j.get("b") or j.get("a") or {}).get("priority")] for j in items], numeric=(2,)))
    return "\n".join(out)


def write_report(db: str | Path, out: str | Path = "report.html", run: str | None = None, wait: float = 0.0) -> Path:
    """Write the HTML report of `run` (default latest) atomically; returns the path."""
    text = render_html(collect(db, run=run, wait=wait))
    path = Path(out)
    try:
        write_text_atomic(path, text)
        path.chmod(0o644)
    except OSError as exc:
        raise FoxError(f"cannot write {path}: {exc}") from None
    return path
