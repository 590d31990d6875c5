"""One grouped bar chart per suite (categories + overall, one bar per checkpoint, bootstrap CI whiskers).

SVG with text kept as text (small, searchable), fixed hash salt and no date: the same report renders
to the same bytes. Published numbers are hatched bars without whiskers.
"""

from __future__ import annotations

import io

from uno_bench.report.model import OVERALL, SuiteReport


def _plain(text: str) -> str:
    """Labels are user data: a '$' pair would otherwise be parsed as mathtext."""
    return text.replace("$", r"\$")


def bar_chart_svg(suite: SuiteReport) -> str:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import numpy as np

    rows = [r for r in suite.rows if any(c.value is not None for c in r.cells.values())]
    cols = suite.columns
    width = 0.8 / max(len(rows), 1)
    x = np.arange(len(cols))
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "uno-report", "font.size": 9}):
        fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(cols) + 2), 3.4))
        for i, row in enumerate(rows):
            cells = [row.cells.get(c) for c in cols]
            values = [np.nan if c is None or c.value is None else c.value for c in cells]
            low = [0 if c is None or c.low is None or c.value is None else c.value - c.low for c in cells]
            high = [0 if c is None or c.high is None or c.value is None else c.high - c.value for c in cells]
            ax.bar(x + (i - (len(rows) - 1) / 2) * width, values, width, label=_plain(row.label),
                   hatch="//" if row.published else None, alpha=0.55 if row.published else 1.0,
                   yerr=None if row.published else [low, high], capsize=2, error_kw={"linewidth": 0.8})
        ax.set_xticks(x, [_plain(c.replace("_", " ")) if c != OVERALL else "OVERALL" for c in cols], rotation=20,
                      ha="right")
        ax.set_title(f"{_plain(suite.title)}: {int(100 * _level(suite))}% bootstrap CI", fontsize=10)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None})
        plt.close(fig)
    return buffer.getvalue()


def _level(suite: SuiteReport) -> float:
    for row in suite.rows:
        if row.bootstrap is not None:
            return row.bootstrap.level
    return 0.95
