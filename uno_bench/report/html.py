"""The HTML report: one static, self-contained page (no server, nothing fetched), rendered from the Jinja2
templates in templates/ with autoescaping on.

Order: the answer first (one verdict line per suite), then per suite the table (sized to fit a laptop
window), notes, chart, image grid (prompts x checkpoints, verdict and reason under each image; hover or
focus an image to zoom), paired tests and largest changes; the flip lists and the method come last.
Every piece of run data (labels, prompts, reasons, categories, paths) is escaped by the template engine.
A Content-Security-Policy allows only this page's own script and style (by hash) and data: images, so
even a missed escape could not run a script or fetch anything. The category filter is a few lines of
JS; without JS the page shows everything and the per-category links still navigate.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from uno_bench.report import fmt
from uno_bench.report.fmt import anchor
from uno_bench.report.grid import DEFAULT_GRID_PROMPTS, image_grid
from uno_bench.report.model import Report, SuiteReport
from uno_bench.report.prompt_diff import FAIL_TO_PASS, PASS_TO_FAIL
from uno_bench.report.settings import manifest_differences
from uno_bench.report.thumbs import DEFAULT_SIZE
from uno_bench.report.verdict import verdicts

FLIP_LIMIT = 50
ROW_CLASS = {"baseline": "baseline", "run": "", "published": "published"}

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


def wrap_underscores(column: str) -> Markup:
    """Category names may wrap after their underscores, so the table fits without renaming them."""
    return Markup(str(escape(column)).replace("_", "_<wbr>"))


@cache
def _environment() -> Environment:
    env = Environment(loader=PackageLoader("uno_bench.report", "templates"), autoescape=True,
                      undefined=StrictUndefined, keep_trailing_newline=True)
    env.globals.update(fmt=fmt, anchor=anchor, wrap_underscores=wrap_underscores, row_class=ROW_CLASS,
                       directions=((PASS_TO_FAIL, "down"), (FAIL_TO_PASS, "up")))
    return env


def _differences(suite: SuiteReport) -> list[tuple[str, list]]:
    """Per arm, the baseline settings it differs in that move numbers."""
    base = suite.arms[0].first.manifest
    found = [(arm.label, [d for d in manifest_differences(base, arm.first.manifest) if d.moves_numbers])
             for arm in suite.arms[1:]]
    return [(label, diffs) for label, diffs in found if diffs]


def render_html(report: Report, charts: dict[str, str], grid_limit: int = DEFAULT_GRID_PROMPTS,
                thumb: int = DEFAULT_SIZE) -> str:
    """`charts`: suite name -> SVG text."""
    csp = (f"default-src 'none'; img-src data:; style-src {_csp_hash(CSS)}; script-src {_csp_hash(JS)}; "
           "base-uri 'none'; form-action 'none'")
    uris = {name: "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
            for name, svg in charts.items()}
    return _environment().get_template("report.html.j2").render(
        report=report, verdicts=verdicts(report), csp=csp, css=Markup(CSS), js=Markup(JS), charts=uris,
        grids={s.suite: image_grid(s, grid_limit, thumb) for s in report.suites},
        differences={s.suite: _differences(s) for s in report.suites},
        pct=f"{int(round(report.level * 100))}%", grid_limit=grid_limit, flip_limit=FLIP_LIMIT,
    )


def write_html(report: Report, charts: dict[str, str], out: Path, grid_limit: int = DEFAULT_GRID_PROMPTS,
               thumb: int = DEFAULT_SIZE) -> Path:
    from uno_bench.runs.atomic import write_text

    path = out / "report.html"
    write_text(path, render_html(report, charts, grid_limit, thumb))
    return path
