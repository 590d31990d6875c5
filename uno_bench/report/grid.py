"""The image grid of the HTML report: prompts x checkpoints, each image with its verdict and the judge's reason.

Rows are grouped by category (official order) with anchors, so the per-category links work without JS;
`data-suite` / `data-category` attributes are what the page's filter script toggles.
"""

from __future__ import annotations

from uno_bench.report import fmt
from uno_bench.report.fmt import anchor
from uno_bench.report.fmt import html_text as e
from uno_bench.report.model import SuiteReport
from uno_bench.report.scoring import SampleScore
from uno_bench.report.thumbs import thumbnail_uri
from uno_bench.runs.plan import natural_key

DEFAULT_GRID_PROMPTS = 40


def _verdict(s: SampleScore, binary: bool, digits: int) -> str:
    if s.score is None:
        return f'<span class="unscored">unscored</span> {e(fmt.reason(s.reason))}'
    if binary:
        word = '<span class="pass">✓ pass</span>' if s.score else '<span class="fail">✗ fail</span>'
    else:
        word = f"<b>{e(fmt.num(s.score, digits))}</b>"
    return f"{word} {e(fmt.reason(s.reason))}".strip()


def _category_rank(suite: SuiteReport, category: str) -> tuple[int, str]:
    """Official column order first, other categories after, by name."""
    return (suite.columns.index(category) if category in suite.columns else len(suite.columns), category)


def grid_prompts(suite: SuiteReport, limit: int) -> list[str]:
    """Prompts to show: changed ones first (largest change first), then the rest spread over categories."""
    chosen: dict[str, None] = {}
    for diff in suite.diffs:
        for ch in diff.changes:
            chosen.setdefault(ch.prompt_id, None)
    by_cat: dict[str, dict[str, None]] = {}  # category -> its prompt ids in run order
    for s in suite.arms[0].scores:
        by_cat.setdefault(s.category, {})[s.prompt_id] = None
    queues = [list(by_cat[c]) for c in sorted(by_cat, key=lambda c: _category_rank(suite, c))]
    depth = 0
    while len(chosen) < limit and any(depth < len(q) for q in queues):
        for q in queues:
            if depth < len(q):
                chosen.setdefault(q[depth], None)
        depth += 1
    return list(chosen)[:limit]


def image_grid(suite: SuiteReport, limit: int, thumb: int) -> str:
    shown = grid_prompts(suite, limit)
    binary = all(d.binary for d in suite.diffs) if suite.diffs else all(
        s.score in (0.0, 1.0) for s in suite.arms[0].scores if s.score is not None)
    per_arm: list[dict[str, list[SampleScore]]] = []
    for arm in suite.arms:
        table: dict[str, list[SampleScore]] = {}
        for s in arm.first.scores:
            table.setdefault(s.prompt_id, []).append(s)
        per_arm.append(table)
    first = {pid: next((t[pid][0] for t in per_arm if pid in t), None) for pid in shown}
    categories: dict[str, list[str]] = {}
    for pid in shown:
        if first[pid] is not None:
            categories.setdefault(first[pid].category, []).append(pid)
    order = sorted(categories, key=lambda c: _category_rank(suite, c))
    total = len({s.prompt_id for s in suite.arms[0].scores})
    options = "".join(f'<option value="{e(c)}">{e(c)}</option>' for c in order)
    jumps = " · ".join(f'<a href="#{e(anchor("g", suite.suite, c))}">{e(c)}</a>' for c in order)
    heads = "".join(f"<th>{e(arm.label)}" + (f" <small>(images of {e(arm.first.path.name)}, 1 of "
                                                f"{len(arm.runs)} runs)</small>" if len(arm.runs) > 1 else "")
                    + "</th>" for arm in suite.arms)
    out = [f"<h3>Images ({len(shown)} of {total} prompts; changed prompts first)</h3>",
           f'<div class="filter" hidden><label>Category: <select class="catfilter" data-suite="{e(suite.suite)}">'
           f'<option value="">all</option>{options}</select></label></div>',
           f'<p class="note">Categories: {jumps}</p>',
           f'<table class="grid"><thead><tr><th>prompt</th>{heads}</tr></thead><tbody>']
    for cat in order:
        out.append(f'<tr class="cat-head" id="{e(anchor("g", suite.suite, cat))}" data-suite="{e(suite.suite)}" '
                   f'data-category="{e(cat)}"><th colspan="{len(suite.arms) + 1}">{e(cat)}</th></tr>')
        for pid in sorted(categories[cat], key=natural_key):
            sample = first[pid]
            cells = []
            for arm, table in zip(suite.arms, per_arm):
                figs = []
                for s in sorted(table.get(pid, []), key=lambda s: s.index):
                    uri = thumbnail_uri(arm.first.images_root / s.image, thumb) if s.image else None
                    img = (f'<img src="{e(uri)}" alt="{e(s.key)}" loading="lazy" tabindex="0">' if uri
                           else '<div class="missing">no image</div>')
                    figs.append(f"<figure>{img}<figcaption>#{s.index}: {_verdict(s, binary, suite.digits)}"
                                "</figcaption></figure>")
                cells.append(f"<td>{''.join(figs) or '—'}</td>")
            prompt = e(sample.prompt) if sample is not None else ""
            out.append(f'<tr id="{e(anchor("p", suite.suite, pid))}" data-suite="{e(suite.suite)}" '
                       f'data-category="{e(cat)}"><th class="prompt">{prompt}<br><small>{e(pid)}</small></th>'
                       f"{''.join(cells)}</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)
