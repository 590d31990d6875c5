"""CSV output, tidy and at full precision, for pandas and spreadsheets.

report.csv           one line per (suite, row, column): value, sd across seed runs, bootstrap CI,
                     delta vs the baseline and, for the overall, the paired CI and sign test.
prompt_changes.csv   one line per prompt whose mean score changed between the baseline and a run.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from uno_bench.report import fmt
from uno_bench.report.model import OVERALL, Report
from uno_bench.runs.atomic import write_text

REPORT_FIELDS = [
    "suite", "row", "role", "column", "value", "sd", "n_runs", "ci_low", "ci_high", "delta",
    "delta_ci_low", "delta_ci_high", "sign_test", "sign_better", "sign_worse", "p_value", "scored", "expected",
    "flags", "note", "runs",
]
CHANGE_FIELDS = [
    "suite", "baseline", "run", "prompt_id", "category", "prompt", "baseline_mean", "run_mean", "delta",
    "flips", "baseline_reasons", "run_reasons",
]


def _blank(x: object) -> object:
    return "" if x is None else x


def report_rows(report: Report) -> list[dict[str, object]]:
    out = []
    for suite in report.suites:
        for row in suite.rows:
            for col in suite.columns:
                cell = row.cells.get(col)
                line = {
                    "suite": suite.suite, "row": row.label, "role": row.role, "column": col,
                    "value": cell.value if cell else None, "sd": cell.sd if cell else None,
                    "n_runs": cell.n_runs if cell else None, "ci_low": cell.low if cell else None,
                    "ci_high": cell.high if cell else None, "delta": cell.delta if cell else None,
                    "scored": row.scored, "expected": row.expected, "flags": " | ".join(row.flags),
                    "note": row.note, "runs": " ".join(row.runs),
                }
                comp = row.comparison
                if comp is not None:
                    iv = comp.paired.overall if col == OVERALL else comp.paired.categories.get(col)
                    if iv is not None:
                        line.update(delta_ci_low=iv.low, delta_ci_high=iv.high)
                    if col == OVERALL:
                        line.update(sign_test=comp.sign.name, sign_better=comp.sign.better,
                                    sign_worse=comp.sign.worse, p_value=comp.sign.p_value)
                out.append({k: _blank(line.get(k)) for k in REPORT_FIELDS})
    return out


def change_rows(report: Report) -> list[dict[str, object]]:
    out = []
    for suite in report.suites:
        for diff in suite.diffs:
            flips = {}
            for f in diff.flips:
                flips.setdefault(f.base.prompt_id, []).append(f"{f.base.index}:{f.direction}")
            for ch in diff.changes:
                out.append({
                    "suite": suite.suite, "baseline": diff.base_label, "run": diff.other_label,
                    "prompt_id": ch.prompt_id, "category": ch.category, "prompt": ch.base[0].prompt,
                    "baseline_mean": ch.base_mean, "run_mean": ch.other_mean, "delta": ch.delta,
                    "flips": " ".join(flips.get(ch.prompt_id, [])),
                    "baseline_reasons": fmt.reasons(ch.base),
                    "run_reasons": fmt.reasons(ch.other),
                })
    return out


def to_csv(fields: list[str], rows: list[dict[str, object]]) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _write(path: Path, fields: list[str], rows: list[dict[str, object]]) -> Path:
    write_text(path, to_csv(fields, rows))
    return path


def write_csv(report: Report, out: Path) -> list[Path]:
    return [_write(out / "report.csv", REPORT_FIELDS, report_rows(report)),
            _write(out / "prompt_changes.csv", CHANGE_FIELDS, change_rows(report))]
