"""Markdown output: per suite the verdict, the table, footnotes, chart link, paired tests and per-prompt changes.

Prompts and reasons are user data, escaped only where Markdown (GFM) would read them as markup, so the
file stays readable as plain text: `<` before a tag-like character and `&` before an entity-like run
become entities (renderers pass raw HTML through), `|` is escaped (it would split a table cell),
newlines are folded (they would end a row), and `*`, backticks, `~~`, link brackets, a backslash before
punctuation and `_` at a word's edge (intraword `_` is never emphasis) get a backslash.
"""

from __future__ import annotations

import re

from uno_bench.report import fmt
from uno_bench.report.model import OVERALL, Report, Row, SuiteReport
from uno_bench.report.prompt_diff import FAIL_TO_PASS, PASS_TO_FAIL, PromptDiff
from uno_bench.report.verdict import suite_verdict

LIST_LIMIT = 20  # entries per list; everything is in prompt_changes.csv

_MARKUP = [
    (re.compile(r"\\(?=[!-/:-@\[-`{-~])"), r"\\\\"),  # a backslash that would escape what follows
    (re.compile(r"&(?=#?\w+;)"), "&amp;"),  # would start an entity
    (re.compile(r"<(?=[A-Za-z/!?])"), "&lt;"),  # would start a tag, comment or autolink
    (re.compile(r"([|*`])"), r"\\\1"),  # cell separator, emphasis, code
    (re.compile(r"~~"), r"\\~\\~"),  # strikethrough
    (re.compile(r"\[(?=[^\]]*\]\s*[(\[:])"), r"\\["),  # a [link](...) / [ref][...] opener
    (re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])"), r"\\_"),  # emphasis can start/end only at an edge
]


def esc(text: object) -> str:
    s = " ".join(str(text).split())  # newlines would end a table row
    for pattern, replacement in _MARKUP:
        s = pattern.sub(replacement, s)
    return s


def _table(suite: SuiteReport) -> list[str]:
    d = suite.digits
    head = ["checkpoint", *suite.columns[:-1], "**overall**", "95% CI", "Δ overall, paired 95% CI", "test, p",
            "coverage", "settings"]
    lines = ["| " + " | ".join(esc(h) if not h.startswith("**") else h for h in head) + " |",
             "|" + "---|" * len(head)]
    for row in suite.rows:
        label = esc(row.label) + (" (baseline)" if row.role == "baseline" else "")
        if row.published:
            label = f"*{label}*" + ("" if row.role == "published" else " †")
        cells = [f"{fmt.cell_value(row.cells.get(c), d)} {fmt.cell_delta(row.cells.get(c), d)}".strip()
                 for c in suite.columns]
        overall = row.cells[OVERALL]
        comp = row.comparison
        paired = fmt.paired(comp.paired.overall, d) if comp else ""
        test = f"{fmt.sign_counts(comp.sign)}, p={fmt.p_value(comp.sign.p_value)}" if comp else ""
        flags = esc("; ".join(row.flags)) if row.flags and not row.published else ""
        if row.flags and not row.published:
            flags = "⚠ " + flags
        lines.append("| " + " | ".join([label, *cells[:-1], f"**{cells[-1]}**",
                                         fmt.interval(overall.low, overall.high, d), paired, test,
                                         fmt.coverage(row), flags]) + " |")
    return lines


def _notes(suite: SuiteReport) -> list[str]:
    out = []
    for row in suite.rows:
        if row.published:
            out.append(f"- *{esc(row.label)}*: {esc(row.note)}")
    out += [f"- {esc(note)}" for note in suite.footnotes]
    return out


def _flip_lines(diff: PromptDiff, direction: str) -> list[str]:
    groups = diff.by_prompt(direction)
    out = [f"**{direction}**: {len(diff.of(direction))} images of {len(groups)} prompts", ""]
    for flips in groups[:LIST_LIMIT]:
        first = flips[0].base
        out.append(f"- {esc(first.prompt_id)} ({esc(first.category)}) {esc(first.prompt)} — "
                   f"{esc(diff.base_label)}: {esc(fmt.reasons([f.base for f in flips]))}; "
                   f"{esc(diff.other_label)}: {esc(fmt.reasons([f.other for f in flips]))}")
    if len(groups) > LIST_LIMIT:
        out.append(f"- … and {len(groups) - LIST_LIMIT} more prompts (prompt_changes.csv)")
    return out + [""]


def _diff(diff: PromptDiff, digits: int) -> list[str]:
    out = [f"### {esc(diff.other_label)} vs {esc(diff.base_label)}: per-prompt changes", ""]
    if not diff.same_seeds:
        out += ["Base seeds differ: paired images do not share their starting noise.", ""]
    if not diff.changes:
        return out + [f"No prompt's mean score changed ({diff.n_pairs} image pairs compared).", ""]
    if diff.binary:
        out += _flip_lines(diff, PASS_TO_FAIL) + _flip_lines(diff, FAIL_TO_PASS)
    out += [f"Largest changes of the per-prompt mean score ({len(diff.changes)} prompts changed):", "",
            "| prompt id | category | prompt | baseline | run | Δ | baseline reasons | run reasons |",
            "|---|---|---|---|---|---|---|---|"]
    for ch in diff.changes[:LIST_LIMIT]:
        reasons = [esc(fmt.reasons(side)) for side in (ch.base, ch.other)]
        out.append(f"| {esc(ch.prompt_id)} | {esc(ch.category)} | {esc(ch.base[0].prompt)} | "
                   f"{fmt.num(ch.base_mean, digits)} | {fmt.num(ch.other_mean, digits)} | "
                   f"{fmt.signed(ch.delta, digits)} | {reasons[0]} | {reasons[1]} |")
    return out + [""]


def _paired_lines(suite: SuiteReport, rows: list[Row], level: float) -> list[str]:
    out = [f"Paired comparisons with {esc(suite.baseline.label)} (prompt-paired bootstrap; {int(level * 100)}% CI):",
           ""]
    for row in rows:
        c = row.comparison
        assert c is not None
        notes = [] if c.same_prompts else ["prompt sets differ: paired by prompt id"]
        if not c.same_seeds:
            notes.append("different base seeds")
        out.append(f"- {esc(row.label)}: Δ overall {fmt.paired(c.paired.overall, suite.digits)} over "
                   f"{c.paired.n_prompts} prompts; {c.sign.name}: {fmt.sign_counts(c.sign)}, "
                   f"p = {fmt.p_value(c.sign.p_value)}" + (f" ({'; '.join(notes)})" if notes else ""))
    return out + [""]


def suite_markdown(suite: SuiteReport, report: Report, chart: str | None) -> list[str]:
    out = [f"## {esc(suite.title)} (`{suite.suite}`)", "", f"**{esc(suite_verdict(suite))}**", "",
           f"Official statistic: {esc(suite.metric)}", ""]
    out += _table(suite) + [""] + _notes(suite) + [""]
    if chart:
        out += [f"![{esc(suite.suite)} chart]({chart})", ""]
    compared = [r for r in suite.measured if r.comparison is not None]
    if compared:
        out += _paired_lines(suite, compared, report.level)
    for diff in suite.diffs:
        out += _diff(diff, suite.digits)
    return out


def render_markdown(report: Report, charts: dict[str, str] | None = None) -> str:
    charts = charts or {}
    out = [f"# {esc(report.title)}", "",
           f"{int(report.level * 100)}% intervals: bootstrap over prompts (stratified by category, all images of a "
           f"prompt together), B = {report.n_boot}, seed {report.seed}, percentile intervals; Δ = run − baseline. "
           "Definitions: docs/statistics.md. ⚠ marks settings that differ from the baseline; † published numbers "
           "obtained under different settings than these runs.", ""]
    for suite in report.suites:
        out += suite_markdown(suite, report, charts.get(suite.suite))
    return "\n".join(out).rstrip() + "\n"
