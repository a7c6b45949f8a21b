"""Rendering a plan diff (``diff.PlanDiff``) as aligned text, JSON or Markdown.

Text is for a terminal (colour only when asked for: stdout is a TTY and NO_COLOR is unset);
JSON is the documented stable document of docs/DIFF.md; Markdown is ready to paste into a pull
request (summary and transition tables visible, row tables folded in ``<details>``).
"""
from __future__ import annotations

import json
import os
from typing import IO, Any

from ..formatting import md_escape, md_table_lines, value_text
from .plan_diff import PlanDiff

FORMATS = ("text", "json", "markdown")
DEFAULT_LIMIT = 50
ARROW = "→"
_COLOURS = {"+": "32", "-": "31", "~": "33", "head": "1", "dim": "2"}


def use_color(stream: IO[str]) -> bool:
    """Colour only on a terminal, and never with NO_COLOR set (https://no-color.org) or TERM=dumb."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def render(result: PlanDiff, fmt: str = "text", color: bool = False) -> str:
    if fmt == "json":
        return result.to_json()
    if fmt == "markdown":
        return _Markdown(result.data).render()
    if fmt == "text":
        return _Text(result.data, color).render()
    raise ValueError(f"unknown diff format {fmt!r}; formats: {', '.join(FORMATS)}")


# --- shared helpers -------------------------------------------------------------------------

def side_title(side: dict[str, Any]) -> str:
    if side["kind"] == "run":
        return f"run {side['run_id']}" + ("" if side["ref"] == side["run_id"] else f" ({side['ref']})")
    return f"file {side['path']}"


def pair_name(row: dict[str, Any]) -> str:
    return row["target"] if row.get("symbol") is None else f"{row['target']} / {row['symbol']}"


def route_name(route: str | None) -> str:
    return "(none)" if route is None else route


def change_texts(row: dict[str, Any], columns: list[str]) -> list[str]:
    return [f"{c}: {value_text(row['a'][c])} {ARROW} {value_text(row['b'][c])}" for c in columns]


def job_summary(side: dict[str, Any]) -> str:
    return (f"{side['route']}  p{side['priority']}  {side['training_type']}  "
            f"{value_text(side['model_families'])}  n={value_text(side['estimated_samples'])}")


def decision_summary(side: dict[str, Any]) -> str:
    local = "" if side["local_state"] is None else f", local {side['local_state']}"
    return f"{side['route']} (cs {side['cs_state']}{local}; score {value_text(side['score'])})"


def counts_text(counts: dict[str, int]) -> str:
    return (f"{counts['added']} added, {counts['removed']} removed, {counts['changed']} changed, "
            f"{counts['unchanged']} unchanged")


def models_text(models: dict[str, Any] | None) -> str:
    """'models changed: X (directly); Y, Z (downstream)', 'models: unchanged' or 'models: unknown (...)'."""
    if not models:
        return "models: unknown (no model versions in this diff)"
    status = models["status"]
    if status == "changed" and models["direct"]:
        text = "models changed: " + ", ".join(models["direct"]) + " (directly)"
        if models["downstream"]:
            text += "; " + ", ".join(models["downstream"]) + " (downstream)"
        return text
    if status == "changed":
        return (f"models changed (models fingerprint {short_fp(models['fingerprint_a'])} {ARROW} "
                f"{short_fp(models['fingerprint_b'])}; {models['reason']})")
    if status == "unchanged":
        return "models: unchanged" + (f" (models fingerprint {short_fp(models['fingerprint_b'])})"
                                      if not models["available"] else "")
    return f"models: unknown ({models['reason']})"


def short_fp(value: str | None) -> str:
    return (value or "-")[:12]


def more_text(shown: int, total: int, what: str) -> str | None:
    if total > shown:
        return f"… {total - shown} more {what} (use --limit 0 to list all)"
    return None


# --- text -----------------------------------------------------------------------------------

class _Text:
    def __init__(self, data: dict[str, Any], color: bool):
        self.d = data
        self.color = color
        self.lines: list[str] = []

    def c(self, kind: str, text: str) -> str:
        return f"\033[{_COLOURS[kind]}m{text}\033[0m" if self.color else text

    def out(self, text: str = "") -> None:
        self.lines.append(text)

    def render(self) -> str:
        d = self.d
        self.out(self.c("head", "plan diff"))
        self.out(f"  a: {side_title(d['a'])}")
        self.out(f"  b: {side_title(d['b'])}")
        for name in ("a", "b"):
            if d[name]["note"]:
                self.out(self.c("dim", f"  {name}: {d[name]['note']}"))
        self.jobs()
        self.decisions()
        self.config()
        self.models()
        for warning in d["warnings"]:
            self.out(f"warning: {warning}")
        self.out()
        self.out(self.c("head", "result: plans are identical" if d["identical"] else "result: plans differ"))
        return "\n".join(self.lines)

    def rows(self, sign: str, rows: list[tuple[str, str]], total: int, what: str) -> None:
        width = max((len(name) for name, _ in rows), default=0)
        for name, text in rows:
            self.out(f"  {self.c(sign, sign)} {name:<{width}}  {text}")
        more = more_text(len(rows), total, what)
        if more:
            self.out(self.c("dim", f"    {more}"))

    def jobs(self) -> None:
        j = self.d["jobs"]
        counts = j["counts"]
        self.out()
        cols = ", ".join(f"{k} {v}" for k, v in j["changed_columns"].items())
        self.out(self.c("head", f"jobs: {counts['a']} {ARROW} {counts['b']}: ") + counts_text(counts)
                 + (f"  (changed: {cols})" if cols else ""))
        self.rows("+", [(r["job_id"], job_summary(r["b"])) for r in j["added"]], counts["added"], "added jobs")
        self.rows("-", [(r["job_id"], job_summary(r["a"])) for r in j["removed"]], counts["removed"], "removed jobs")
        self.rows("~", [(r["job_id"], "; ".join(change_texts(r, r["changed"]))) for r in j["changed"]],
                  counts["changed"], "changed jobs")

    def decisions(self) -> None:
        dec = self.d["decisions"]
        self.out()
        if not dec["available"]:
            self.out(self.c("head", "decisions: ") + dec["reason"])
            return
        counts = dec["counts"]
        self.out(self.c("head", "decisions: ") + counts_text(counts))
        if dec["transitions"]:
            self.out("  route transitions:")
            labels = [(("cs: " if t["kind"] == "cs" else "") + f"{route_name(t['a'])} {ARROW} {route_name(t['b'])}",
                       t["count"]) for t in dec["transitions"]]
            width = max(len(label) for label, _ in labels)
            for label, n in labels:
                self.out(f"    {label:<{width}}  {n:>8}")
        self.rows("+", [(pair_name(r), decision_summary(r["b"])) for r in dec["added"]], counts["added"],
                  "added decisions")
        self.rows("-", [(pair_name(r), decision_summary(r["a"])) for r in dec["removed"]], counts["removed"],
                  "removed decisions")
        changed = []
        for r in dec["changed"]:
            text = "; ".join(change_texts(r, r["changed"]))
            moved = ", ".join(f"{c} {value_text(r['a'][c])} {ARROW} {value_text(r['b'][c])}" for c in r["moved_inputs"])
            changed.append((pair_name(r), text + (f"  | inputs: {moved}" if moved else "")))
        self.rows("~", changed, counts["changed"], "changed decisions")

    def config(self) -> None:
        cfg = self.d["config"]
        self.out()
        if not cfg["available"]:
            same = "same config_hash" if cfg["config_hash_equal"] else "config_hash differs"
            self.out(self.c("head", "config: ") + f"{cfg['reason']} ({same})")
            return
        changes = cfg["changes"]
        self.out(self.c("head", "config: ") + (f"{len(changes)} key(s) changed" if changes else "unchanged"))
        width = max((len(ch["key"]) for ch in changes), default=0)
        for ch in changes:
            a = "(absent)" if ch["change"] == "added" else json.dumps(ch["a"])
            b = "(absent)" if ch["change"] == "removed" else json.dumps(ch["b"])
            self.out(f"  {self.c('~', '~')} {ch['key']:<{width}}  {a} {ARROW} {b}")

    def models(self) -> None:
        models = self.d.get("models")
        self.out()
        head, _, rest = models_text(models).partition(":")
        self.out(self.c("head", head + ":") + rest)
        for change in (models or {}).get("changes", []):
            self.out(f"  {change['model']} ({change['change']}):")
            for line in change["sql_diff"]:
                kind = "+" if line.startswith("+") and not line.startswith("+++") else \
                    "-" if line.startswith("-") and not line.startswith("---") else None
                self.out("    " + (self.c(kind, line) if kind else line))


# --- markdown -------------------------------------------------------------------------------

def md_cell(value: Any) -> str:
    # A pull-request comment: no HTML from plan values; a lone \r is left as it is.
    return md_escape(value if isinstance(value, str) else value_text(value), breaks="\n", lt=True)


def md_code(value: Any) -> str:
    text = md_cell(value).replace("`", "'")
    return f"`{text}`" if text else ""


def md_symbol(row: dict[str, Any]) -> str:
    return "_(cross-sectional)_" if row["symbol"] is None else md_cell(row["symbol"])


class _Markdown:
    def __init__(self, data: dict[str, Any]):
        self.d = data
        self.lines: list[str] = []

    def out(self, text: str = "") -> None:
        self.lines.append(text)

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        self.lines.extend(md_table_lines(header, rows))

    def details(self, title: str, header: list[str], rows: list[list[str]], total: int) -> None:
        if not total:
            return
        self.out("<details>")
        self.out(f"<summary>{md_cell(title)} ({total})</summary>")
        self.out()
        self.table(header, rows)
        more = more_text(len(rows), total, "rows")
        if more:
            self.out()
            self.out(f"_{more}_")
        self.out()
        self.out("</details>")
        self.out()

    def render(self) -> str:
        d = self.d
        verdict = "no differences" if d["identical"] else "plans differ"
        self.out(f"### Plan diff: {md_code(d['a']['ref'])} {ARROW} {md_code(d['b']['ref'])} — {verdict}")
        self.out()
        self.table(["", "A", "B"], [
            ["source", md_cell(side_title(d["a"])), md_cell(side_title(d["b"]))],
            ["config hash", md_code((d["a"]["config_hash"] or "-")[:12]), md_code((d["b"]["config_hash"] or "-")[:12])],
            ["input fingerprint", md_code((d["a"]["input_fingerprint"] or "-")[:12]),
             md_code((d["b"]["input_fingerprint"] or "-")[:12])],
            ["models fingerprint", md_code(short_fp(d["a"].get("models_fingerprint"))),
             md_code(short_fp(d["b"].get("models_fingerprint")))],
            ["jobs", str(d["jobs"]["counts"]["a"]), str(d["jobs"]["counts"]["b"])],
        ])
        self.out()
        self.jobs()
        self.decisions()
        self.config()
        self.models()
        for warning in d["warnings"]:
            self.out(f"> **Warning:** {md_cell(warning)}")
        return "\n".join(self.lines).rstrip() + "\n"

    def jobs(self) -> None:
        j = self.d["jobs"]
        self.out(f"**Jobs:** {counts_text(j['counts'])}")
        self.out()
        cols = ["route", "priority", "training_type", "model_families", "estimated_samples"]
        self.details("Jobs added", ["job_id"] + cols,
                     [[md_code(r["job_id"])] + [md_cell(r["b"][c]) for c in cols] for r in j["added"]],
                     j["counts"]["added"])
        self.details("Jobs removed", ["job_id"] + cols,
                     [[md_code(r["job_id"])] + [md_cell(r["a"][c]) for c in cols] for r in j["removed"]],
                     j["counts"]["removed"])
        self.details("Jobs changed", ["job_id", "changes"],
                     [[md_code(r["job_id"]), "<br>".join(md_cell(t) for t in change_texts(r, r["changed"]))]
                      for r in j["changed"]], j["counts"]["changed"])

    def decisions(self) -> None:
        dec = self.d["decisions"]
        if not dec["available"]:
            self.out(f"**Decisions:** {md_cell(dec['reason'])}")
            self.out()
            return
        self.out(f"**Decisions:** {counts_text(dec['counts'])}")
        self.out()
        if dec["transitions"]:
            self.table(["kind", "from", "to", "count"], [
                [t["kind"], md_cell(route_name(t["a"])), md_cell(route_name(t["b"])), str(t["count"])]
                for t in dec["transitions"]])
            self.out()
        self.details("Decisions added", ["target", "symbol", "decision"],
                     [[md_cell(r["target"]), md_symbol(r), md_cell(decision_summary(r["b"]))]
                      for r in dec["added"]], dec["counts"]["added"])
        self.details("Decisions removed", ["target", "symbol", "decision"],
                     [[md_cell(r["target"]), md_symbol(r), md_cell(decision_summary(r["a"]))]
                      for r in dec["removed"]], dec["counts"]["removed"])
        rows = []
        for r in dec["changed"]:
            moved = "<br>".join(md_cell(f"{c}: {value_text(r['a'][c])} {ARROW} {value_text(r['b'][c])}")
                                for c in r["moved_inputs"])
            rows.append([md_cell(r["target"]), md_symbol(r),
                         "<br>".join(md_cell(t) for t in change_texts(r, r["changed"])), moved])
        self.details("Decisions changed", ["target", "symbol", "changes", "inputs that moved"], rows,
                     dec["counts"]["changed"])

    def config(self) -> None:
        cfg = self.d["config"]
        if not cfg["available"]:
            self.out(f"**Config:** {md_cell(cfg['reason'])}")
            self.out()
            return
        if not cfg["changes"]:
            self.out("**Config:** unchanged")
            self.out()
            return
        self.out(f"**Config:** {len(cfg['changes'])} key(s) changed")
        self.out()
        self.table(["key", "A", "B"], [
            [md_code(ch["key"]),
             "_absent_" if ch["change"] == "added" else md_code(json.dumps(ch["a"])),
             "_absent_" if ch["change"] == "removed" else md_code(json.dumps(ch["b"]))]
            for ch in cfg["changes"]])
        self.out()

    def models(self) -> None:
        models = self.d.get("models")
        text = models_text(models)
        head, _, rest = text.partition(":")
        self.out(f"**{md_cell(head[:1].upper() + head[1:])}:**{md_cell(rest)}")
        self.out()
        for change in (models or {}).get("changes", []):
            body = "\n".join(change["sql_diff"])
            fence = "```"
            while fence in body:
                fence += "`"
            self.out("<details>")
            self.out(f"<summary>SQL change: {md_cell(change['model'])} ({change['change']})</summary>")
            self.out()
            self.out(fence + "diff")
            self.out(body)
            self.out(fence)
            self.out()
            self.out("</details>")
            self.out()
