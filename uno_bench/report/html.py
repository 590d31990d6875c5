"""The HTML report: one static, self-contained page (no server, nothing fetched).

Order: the answer first (one verdict line per suite), then per suite the table (sized to fit a laptop
window), notes, chart, image grid (prompts x checkpoints, verdict and reason under each image; hover or
focus an image to zoom), paired tests and largest changes; the flip lists and the method come last. Every piece of run data
(labels, prompts, reasons, categories, paths) goes through `e()`. A Content-Security-Policy allows
only this page's own script and style (by hash) and data: images, so even a missed escape could not
run a script or fetch anything. The category filter is a few lines of JS; without JS the page shows
everything and the per-category links still navigate.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from uno_bench.report import fmt
from uno_bench.report.fmt import anchor
from uno_bench.report.fmt import html_text as e
from uno_bench.report.grid import DEFAULT_GRID_PROMPTS, image_grid
from uno_bench.report.model import OVERALL, Report, Row, SuiteReport
from uno_bench.report.prompt_diff import FAIL_TO_PASS, PASS_TO_FAIL, Flip, PromptDiff
from uno_bench.report.runs import Arm
from uno_bench.report.settings import manifest_differences
from uno_bench.report.thumbs import DEFAULT_SIZE
from uno_bench.report.verdict import verdicts as verdicts_of

FLIP_LIMIT = 50

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}
h1{font-size:1.5em;margin:.2em 0}h2{border-bottom:1px solid #ccc;margin-top:1.2em}
p.verdict{font-size:1.1em;margin:.3em 0;padding:.3em .6em;background:#f6f8fa;border-left:4px solid #2a6}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ddd;padding:3px 6px;vertical-align:top}
table.results{font-size:13px;max-width:100%}table.results th{font-weight:600}
table.results thead th{vertical-align:bottom;max-width:7em}
table.results td.n{text-align:right;white-space:nowrap}table.results tr.baseline{background:#eef4ff}
table.results td.n small{display:block;color:#666}
tr.published td,tr.published th{color:#555;font-style:italic}tr.published-other td,tr.published-other th{color:#999}
.delta{color:#666;font-size:.85em;display:block}.flag{color:#a40}.up{color:#070}.down{color:#b00}
.meta,.note{color:#555;font-size:.9em}img.chart{max-width:100%}
table.grid th.prompt{max-width:22em;text-align:left;font-weight:normal}
figure{display:inline-block;margin:2px;width:132px;vertical-align:top}
figure img{display:block;width:128px;height:auto;image-rendering:pixelated;cursor:zoom-in;
transition:transform .12s;transform-origin:top left;position:relative}
figure img:hover,figure img:focus{transform:scale(3);z-index:10;box-shadow:0 2px 12px rgba(0,0,0,.4);outline:none}
figcaption{font-size:11px;word-wrap:break-word}.pass{color:#070}.fail{color:#b00}.unscored{color:#888}
tr.cat-head th{background:#f4f4f4;text-align:left}.missing{width:64px;height:64px;background:#eee;color:#888;font-size:10px}
ul.flips li{margin:2px 0}code{font-size:.9em}div.wide{overflow-x:auto}td.flags{max-width:16em;font-size:.9em}
"""

JS = """
(function(){
  var selects=document.querySelectorAll('select.catfilter');
  function apply(sel){
    var suite=sel.getAttribute('data-suite'),value=sel.value;
    var items=document.querySelectorAll('[data-category]');
    for(var i=0;i<items.length;i++){
      var el=items[i];
      if(el.getAttribute('data-suite')!==suite)continue;
      el.hidden=value!==''&&el.getAttribute('data-category')!==value;
    }
  }
  var wanted=null,hash=decodeURIComponent(location.hash.slice(1));
  if(hash.indexOf('category=')===0)wanted=hash.slice(9);
  for(var i=0;i<selects.length;i++){
    var sel=selects[i];
    sel.addEventListener('change',function(ev){apply(ev.target);});
    if(wanted!==null){
      for(var j=0;j<sel.options.length;j++){if(sel.options[j].value===wanted){sel.value=wanted;}}
    }
    sel.parentNode.parentNode.hidden=false;
    apply(sel);
  }
  document.documentElement.setAttribute('data-filter','ready');
})();
"""


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def _cell(row: Row, col: str, digits: int) -> str:
    cell = row.cells.get(col)
    text = e(fmt.cell_value(cell, digits))
    if cell is not None and cell.low is not None:
        text = f'<span title="{e(fmt.interval(cell.low, cell.high, digits))}">{text}</span>'
    delta = fmt.cell_delta(cell, digits)
    if delta:
        text += f' <span class="delta">{e(delta)}</span>'
    return f'<td class="n">{text}</td>'


def _header(column: str) -> str:
    """Category names wrap after their underscores, so the table fits without renaming them."""
    return e(column).replace("_", "_<wbr>")


def _results_table(suite: SuiteReport, level: float) -> str:
    d = suite.digits
    pct = f"{int(round(level * 100))}%"
    head = "".join(f"<th>{_header(c)}</th>" for c in suite.columns[:-1])
    out = [f'<div class="wide"><table class="results"><thead><tr><th>checkpoint</th>{head}'
           f"<th>overall <small>({pct} CI)</small></th><th>Δ overall, paired {pct} CI</th><th>sign test</th>"
           "<th>coverage</th><th>settings</th></tr></thead><tbody>"]
    for row in suite.rows:
        klass = {"baseline": "baseline", "run": "", "published": "published"}.get(row.role, "published-other")
        label = e(row.label) + (" <small>(baseline)</small>" if row.role == "baseline" else "")
        if row.role not in ("baseline", "run", "published"):
            label += " <small>(published, different settings)</small>"
        overall = row.cells[OVERALL]
        ci = fmt.interval(overall.low, overall.high, d)
        comp = row.comparison
        paired = e(fmt.paired(comp.paired.overall, d)) if comp else ""
        test = (f'<span title="{e(comp.sign.name)}">p={e(fmt.p_value(comp.sign.p_value))}</span><br>'
                f"<small>{comp.sign.better} up, {comp.sign.worse} down</small>") if comp else ""
        flags = "" if row.published or not row.flags else f'<span class="flag">⚠ {e("; ".join(row.flags))}</span>'
        cells = "".join(_cell(row, c, d) for c in suite.columns[:-1])
        overall_cell = f"<b>{e(fmt.cell_value(overall, d))}</b>" + (
            f" <span class=\"delta\">{e(fmt.cell_delta(overall, d))}</span>" if overall.delta is not None else "")
        if ci != fmt.DASH:
            overall_cell += f"<small>{e(ci)}</small>"
        out.append(f'<tr class="{klass}"><th>{label}</th>{cells}<td class="n">{overall_cell}</td>'
                   f'<td class="n">{paired}</td><td>{test}</td><td class="n">{e(fmt.coverage(row))}</td>'
                   f'<td class="flags">{flags}</td></tr>')
    out.append("</tbody></table></div>")
    return "\n".join(out)


def _notes(suite: SuiteReport) -> str:
    items = [f"<li><i>{e(r.label)}</i>: {e(r.note)}</li>" for r in suite.rows if r.published]
    items += [f'<li class="flag">{e(n)}</li>' for n in suite.footnotes]
    base = suite.arms[0].first.manifest
    for arm in suite.arms[1:]:
        diffs = [d for d in manifest_differences(base, arm.first.manifest) if d.moves_numbers]
        if diffs:
            lines = "".join(f"<li><code>{e(d.text)}</code> <small>({e(d.kind)})</small></li>" for d in diffs)
            items.append(f"<li><details><summary>{e(arm.label)}: {len(diffs)} setting(s) differ from the baseline"
                         f"</summary><ul>{lines}</ul></details></li>")
    return f'<ul class="note">{"".join(items)}</ul>' if items else ""


def _flip_item(suite: str, diff: PromptDiff, flips: list[Flip]) -> str:
    first = flips[0].base
    href = "#" + anchor("p", suite, first.prompt_id)
    return (f'<li data-suite="{e(suite)}" data-category="{e(first.category)}">'
            f'<a href="{e(href)}"><code>{e(first.prompt_id)}</code></a> [{e(first.category)}] '
            f"{e(first.prompt)} — {e(diff.base_label)}: {e(fmt.reasons([f.base for f in flips]))}; "
            f"{e(diff.other_label)}: {e(fmt.reasons([f.other for f in flips]))}</li>")


def _flips(report: Report) -> str:
    out = ['<section id="flips"><h2>Flips (images whose verdict changed)</h2>']
    any_diff = False
    for suite in report.suites:
        for diff in suite.diffs:
            if not diff.binary:
                continue
            any_diff = True
            out.append(f"<h3>{e(suite.title)}: {e(diff.other_label)} vs {e(diff.base_label)}</h3>")
            if not diff.same_seeds:
                out.append('<p class="note">Base seeds differ: paired images do not share their noise.</p>')
            for direction, klass in ((PASS_TO_FAIL, "down"), (FAIL_TO_PASS, "up")):
                groups = diff.by_prompt(direction)
                items = "".join(_flip_item(suite.suite, diff, g) for g in groups[:FLIP_LIMIT])
                if len(groups) > FLIP_LIMIT:
                    items += f"<li>… and {len(groups) - FLIP_LIMIT} more prompts (prompt_changes.csv)</li>"
                out.append(f'<p class="{klass}"><b>{e(direction)}</b>: {len(diff.of(direction))} images of '
                           f'{len(groups)} prompts</p><ul class="flips">{items}</ul>')
    if not any_diff:
        out.append('<p class="note">No pair of runs with binary scores to compare.</p>')
    return "\n".join(out + ["</section>"])


def _changes(suite: SuiteReport, diff: PromptDiff, limit: int) -> str:
    d = suite.digits
    if not diff.changes:
        return (f"<p>{e(diff.other_label)} vs {e(diff.base_label)}: no prompt's mean score changed "
                f"({diff.n_pairs} image pairs compared).</p>")
    rows = []
    for ch in diff.changes[:limit]:
        href = "#" + anchor("p", suite.suite, ch.prompt_id)
        reasons = [e(fmt.reasons(side)) for side in (ch.base, ch.other)]
        klass = "up" if ch.delta > 0 else "down"
        rows.append(f'<tr data-suite="{e(suite.suite)}" data-category="{e(ch.category)}">'
                    f'<td><a href="{e(href)}">{e(ch.prompt_id)}</a></td><td>{e(ch.category)}</td>'
                    f"<td>{e(ch.base[0].prompt)}</td><td class=\"n\">{e(fmt.num(ch.base_mean, d))}</td>"
                    f"<td class=\"n\">{e(fmt.num(ch.other_mean, d))}</td>"
                    f'<td class="n {klass}">{e(fmt.signed(ch.delta, d))}</td><td>{reasons[0]}</td><td>{reasons[1]}</td></tr>')
    return (f"<h3>Largest per-prompt changes: {e(diff.other_label)} vs {e(diff.base_label)} "
            f"({len(diff.changes)} prompts changed)</h3>"
            f'<table class="changes"><thead><tr><th>prompt id</th><th>category</th><th>prompt</th>'
            f"<th>{e(diff.base_label)}</th><th>{e(diff.other_label)}</th><th>Δ</th><th>baseline reasons</th>"
            f"<th>run reasons</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _paired(suite: SuiteReport, level: float) -> str:
    items = []
    for row in suite.measured:
        c = row.comparison
        if c is None:
            continue
        notes = [] if c.same_prompts else ["prompt sets differ: paired by prompt id"]
        if not c.same_seeds:
            notes.append("different base seeds")
        items.append(f"<li>{e(row.label)}: Δ overall {e(fmt.paired(c.paired.overall, suite.digits))} over "
                     f"{c.paired.n_prompts} prompts; {e(c.sign.name)}: {e(fmt.sign_counts(c.sign))}, "
                     f"p = {e(fmt.p_value(c.sign.p_value))}" + (f" ({e('; '.join(notes))})" if notes else "")
                     + "</li>")
    if not items:
        return ""
    return (f"<p>Paired comparisons with {e(suite.baseline.label)} (prompt-paired bootstrap, "
            f"{int(level * 100)}% CI):</p><ul>{''.join(items)}</ul>")


def _runs_table(report: Report) -> str:
    rows = []
    for suite in report.suites:
        for arm in suite.arms:
            for run in arm.runs:
                gen = run.manifest.get("generation", {})
                scoring = run.manifest.get("scoring", {})
                rows.append(f"<tr><td>{e(arm.label)}</td><td>{e(suite.suite)}</td><td><code>{e(run.path)}</code></td>"
                            f"<td>{e(gen.get('model', 'images from a folder'))}</td><td>{e(scoring.get('judge', ''))}"
                            f"</td><td>{e(run.base_seed)}</td></tr>")
    return ("<details><summary>Runs</summary><table><thead><tr><th>label</th><th>suite</th><th>run dir</th>"
            f"<th>model</th><th>judge</th><th>base seed</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
            "</details>")


def _arm_labels(arms: list[Arm]) -> str:
    return ", ".join(a.label for a in arms)


def render_html(report: Report, charts: dict[str, str], grid_limit: int = DEFAULT_GRID_PROMPTS,
                thumb: int = DEFAULT_SIZE) -> str:
    """`charts`: suite name -> SVG text."""
    csp = (f"default-src 'none'; img-src data:; style-src {_csp_hash(CSS)}; script-src {_csp_hash(JS)}; "
           "base-uri 'none'; form-action 'none'")
    level = report.level
    verdicts = "".join(f'<p class="verdict">{e(line)}</p>' for line in verdicts_of(report))
    body = [f"<h1>{e(report.title)}</h1>", verdicts]
    if len(report.suites) > 1:
        body.append("<nav>" + " · ".join(f'<a href="#{e(anchor("s", s.suite))}">{e(s.title)}</a>'
                                         for s in report.suites) + "</nav>")
    for suite in report.suites:
        body.append(f'<section class="suite" id="{e(anchor("s", suite.suite))}"><h2>{e(suite.title)} '
                    f"<small>({e(suite.suite)}: {e(_arm_labels(suite.arms))})</small></h2>"
                    f'<p class="note">Official statistic: {e(suite.metric)}</p>')
        body.append(_results_table(suite, level))
        body.append(_notes(suite))
        if suite.suite in charts:
            uri = "data:image/svg+xml;base64," + base64.b64encode(charts[suite.suite].encode("utf-8")).decode("ascii")
            body.append(f'<img class="chart" alt="{e(suite.title)} chart" src="{uri}">')
        body.append(image_grid(suite, grid_limit, thumb))
        body.append(_paired(suite, level))
        for diff in suite.diffs:
            body.append(_changes(suite, diff, grid_limit))
        body.append("</section>")
    body += [
        _flips(report),
        '<section id="method"><h2>Method</h2>'
        f'<p class="meta">{int(level * 100)}% intervals: bootstrap over prompts (stratified by category, all images '
        f"of a prompt together), B = {report.n_boot}, seed {report.seed}, percentile intervals; Δ = run − baseline; "
        "sign test: exact two-sided binomial on per-prompt mean scores. Definitions: docs/statistics.md. "
        "Hover a value for its CI; hover or focus an image to zoom.</p>",
        _runs_table(report) + "</section>",
    ]
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{e(csp)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(report.title)}</title><style>{CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + f"\n<script>{JS}</script>\n</body></html>\n"
    )


def write_html(report: Report, charts: dict[str, str], out: Path, grid_limit: int = DEFAULT_GRID_PROMPTS,
               thumb: int = DEFAULT_SIZE) -> Path:
    from uno_bench.runs.atomic import write_text

    path = out / "report.html"
    write_text(path, render_html(report, charts, grid_limit, thumb))
    return path
