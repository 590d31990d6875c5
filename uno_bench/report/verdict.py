"""The report's answer in one line per suite: which run is best on the headline statistic, with CIs.

Shared by the terminal, Markdown and HTML renderers so all three lead with the same sentence.
"""

from __future__ import annotations

from uno_bench.report import fmt
from uno_bench.report.model import OVERALL, Report, Row, SuiteReport


def _value(row: Row, digits: int) -> str:
    cell = row.cells[OVERALL]
    ci = fmt.interval(cell.low, cell.high, digits)
    return fmt.cell_value(cell, digits) + ("" if ci == fmt.DASH else f" {ci}")


def _base(base: Row) -> str:
    return "the baseline" if base.label == "baseline" else f"the baseline {base.label}"


def _significance(row: Row) -> str:
    comp = row.comparison
    if comp is None:
        return ""
    return "; the paired CI excludes 0" if comp.paired.overall.excludes_zero else "; the paired CI includes 0"


def suite_verdict(suite: SuiteReport) -> str:
    """E.g. 'Shapes: control is best, overall 0.109 [0.078, 0.141] vs the baseline 0.073 [0.047, 0.099];
    Δ +0.036 [-0.005, +0.078] (paired 95% CI); the paired CI includes 0'. Published rows never win."""
    d = suite.digits
    scored = [r for r in suite.measured if r.cells[OVERALL].value is not None]
    if not scored:
        return f"{suite.title}: no run has a score"
    base = suite.baseline
    if len(suite.measured) == 1:
        return f"{suite.title}: {base.label} overall {_value(base, d)}, coverage {fmt.coverage(base)}"
    best = max(scored, key=lambda r: r.cells[OVERALL].value)
    if best is base:
        others = [r for r in scored if r is not base]
        if not others:
            return f"{suite.title}: only the baseline {base.label} has a score: overall {_value(base, d)}"
        runner = max(others, key=lambda r: r.cells[OVERALL].value)
        text = (f"{suite.title}: no run beats {_base(base)} (overall {_value(base, d)}); "
                f"the best run, {runner.label}, scores {_value(runner, d)}")
        return text + (f", Δ {fmt.paired(runner.comparison.paired.overall, d)}" if runner.comparison else "") \
            + _significance(runner)
    text = f"{suite.title}: {best.label} is best, overall {_value(best, d)} vs {_base(base)} {_value(base, d)}"
    if best.comparison is not None:
        text += f"; Δ {fmt.paired(best.comparison.paired.overall, d)} (paired {_level(best)})"
    return text + _significance(best)


def _level(row: Row) -> str:
    comp = row.comparison
    return "95% CI" if comp is None else f"{int(round(comp.paired.level * 100))}% CI"


def verdicts(report: Report) -> list[str]:
    return [suite_verdict(s) for s in report.suites]
