"""The image grid of the HTML report as data: prompts x checkpoints, each image with its verdict and the
judge's reason (templates/grid.html.j2 lays it out).

Rows are grouped by category (official order) with anchors, so the per-category links work without JS;
`data-suite` / `data-category` attributes are what the page's filter script toggles.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from uno_bench.report import fmt
from uno_bench.report.model import SuiteReport
from uno_bench.report.scoring import SampleScore
from uno_bench.report.thumbs import thumbnail_uri
from uno_bench.runs.plan import natural_key

DEFAULT_GRID_PROMPTS = 40


@dataclass(frozen=True)
class Figure:
    index: int
    key: str
    uri: str | None  # a data: URI; None when the image is missing or unreadable
    verdict: str  # pass | fail | unscored | score
    score: str  # the formatted score, for non-binary suites
    reason: str


@dataclass
class GridRow:
    prompt_id: str
    category: str
    prompt: str
    cells: list[list[Figure]] = field(default_factory=list)  # one list per arm, in arm order


@dataclass
class GridView:
    categories: list[str]  # official order first
    rows: list[GridRow]
    total: int  # prompts in the suite run


def _figure(s: SampleScore, uri: str | None, binary: bool, digits: int) -> Figure:
    if s.score is None:
        verdict = "unscored"
    elif binary:
        verdict = "pass" if s.score else "fail"
    else:
        verdict = "score"
    return Figure(s.index, s.key, uri, verdict, fmt.num(s.score, digits), fmt.reason(s.reason))


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


def image_grid(suite: SuiteReport, limit: int, thumb: int) -> GridView:
    shown = grid_prompts(suite, limit)
    binary = all(d.binary for d in suite.diffs) if suite.diffs else all(
        s.score in (0.0, 1.0) for s in suite.arms[0].scores if s.score is not None)
    per_arm: list[dict[str, list[SampleScore]]] = []
    for arm in suite.arms:
        table: dict[str, list[SampleScore]] = {}
        for s in arm.first.scores:
            table.setdefault(s.prompt_id, []).append(s)
        per_arm.append(table)
    rows = []
    for pid in shown:
        first = next((t[pid][0] for t in per_arm if pid in t), None)
        if first is None:
            continue
        row = GridRow(pid, first.category, first.prompt)
        for arm, table in zip(suite.arms, per_arm):
            row.cells.append([
                _figure(s, thumbnail_uri(arm.first.images_root / s.image, thumb) if s.image else None, binary,
                        suite.digits)
                for s in sorted(table.get(pid, []), key=lambda s: s.index)])
        rows.append(row)
    categories = sorted({r.category for r in rows}, key=lambda c: _category_rank(suite, c))
    rows.sort(key=lambda r: (_category_rank(suite, r.category), natural_key(r.prompt_id)))
    return GridView(categories, rows, len({s.prompt_id for s in suite.arms[0].scores}))
