"""Formatting shared by the renderers: numbers (CSV keeps full precision), reasons and HTML anchors."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from uno_bench.report.model import Cell, Row
from uno_bench.report.scoring import SampleScore
from uno_bench.report.stats import Interval, SignTest

DASH = "—"


def num(x: float | None, digits: int) -> str:
    return DASH if x is None else f"{x:.{digits}f}"


def signed(x: float | None, digits: int) -> str:
    return DASH if x is None else f"{x:+.{digits}f}"


def interval(low: float | None, high: float | None, digits: int, sign: bool = False) -> str:
    if low is None or high is None:
        return DASH
    f = signed if sign else num
    return f"[{f(low, digits)}, {f(high, digits)}]"


def cell_value(cell: Cell | None, digits: int) -> str:
    """0.812, 0.812 ± 0.013 (n=3) for seed runs."""
    if cell is None or cell.value is None:
        return DASH
    text = num(cell.value, digits)
    if cell.n_runs > 1:
        text += f" ± {num(cell.sd, digits)} (n={cell.n_runs})"
    return text


def cell_delta(cell: Cell | None, digits: int) -> str:
    return "" if cell is None or cell.delta is None else f"({signed(cell.delta, digits)})"


def paired(iv: Interval, digits: int) -> str:
    return f"{signed(iv.value, digits)} {interval(iv.low, iv.high, digits, sign=True)}"


def p_value(p: float) -> str:
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


def sign_counts(s: SignTest) -> str:
    return f"{s.better} up, {s.worse} down, {s.ties} tied"


def reason(text: str) -> str:
    """A judge's multi-line explanation (GenEval: one line per failed clause) on one line."""
    return "; ".join(line.strip() for line in str(text).splitlines() if line.strip())


def coverage(row: Row) -> str:
    return "" if row.expected is None else f"{row.scored}/{row.expected}"


def reasons(scores: Sequence[SampleScore]) -> str:
    """The images' reasons, images that share one listed together: '#0,#1 expected cross>=1, found 0; #2 pass'."""
    groups: dict[str, list[str]] = {}
    for s in sorted(scores, key=lambda s: s.index):
        text = reason(s.reason)
        if not text:
            text = "unscored" if s.score is None else "pass" if s.score == 1.0 else "fail" if s.score == 0.0 else ""
        groups.setdefault(text, []).append(f"#{s.index}")
    return "; ".join(f"{','.join(idx)} {text}".strip() for text, idx in groups.items())


def anchor(*parts: str) -> str:
    """An element id / fragment from run data: percent-encoded, so it never needs escaping in a URL."""
    return "-".join(quote(p, safe="") for p in parts)
