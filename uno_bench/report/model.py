"""The report as data: one table per suite (rows = checkpoints, baseline first, then published numbers),
with CIs, deltas, paired comparisons, setting flags and per-prompt diffs. Renderers only format this.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from uno_bench.errors import UnoError
from uno_bench.report import stats
from uno_bench.report.prompt_diff import PromptDiff, prompt_diff
from uno_bench.report.runs import Arm, Run, group_arms
from uno_bench.report.settings import flagged_kinds, protocol_mismatches
from uno_bench.runs.manifest import CODE_CHANGE_FLAG, commits, short_commit

OVERALL = "overall"
BASELINE, MEASURED, PUBLISHED, PUBLISHED_OTHER = "baseline", "run", "published", "published, different settings"


@dataclass(frozen=True)
class Cell:
    value: float | None
    sd: float | None = None  # across the arm's seed runs
    n_runs: int = 1
    low: float | None = None  # bootstrap CI (prompts resampled, seed runs pooled)
    high: float | None = None
    delta: float | None = None  # value - baseline value


@dataclass(frozen=True)
class Comparison:
    """Paired comparison of one arm with the baseline over the prompts both scored."""

    paired: stats.Bootstrap  # intervals of (arm - baseline)
    sign: stats.SignTest
    same_prompts: bool
    same_seeds: bool


@dataclass
class Row:
    label: str
    role: str
    cells: dict[str, Cell]
    scored: int | None = None
    expected: int | None = None
    runs: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)  # number-moving setting differences (vs baseline, within arm)
    note: str = ""
    bootstrap: stats.Bootstrap | None = None
    comparison: Comparison | None = None

    @property
    def published(self) -> bool:
        return self.role in (PUBLISHED, PUBLISHED_OTHER)


@dataclass
class SuiteReport:
    suite: str
    title: str
    metric: str
    columns: list[str]  # categories, then OVERALL
    rows: list[Row]
    arms: list[Arm]
    diffs: list[PromptDiff]
    footnotes: list[str]
    digits: int

    @property
    def baseline(self) -> Row:
        return self.rows[0]

    @property
    def measured(self) -> list[Row]:
        return [r for r in self.rows if not r.published]


@dataclass
class Report:
    suites: list[SuiteReport]
    n_boot: int
    seed: int
    level: float
    baseline: str = ""  # the label every Δ is taken against

    @property
    def title(self) -> str:
        """Names the baseline: two reports over the same runs with different baselines differ in every Δ."""
        if not any(len(s.measured) > 1 for s in self.suites):
            return "Benchmark results"
        return f"Benchmark comparison, baseline: {self.baseline}"


def _design(arm: Arm) -> stats.Design:
    run = arm.first
    return stats.make_design(arm.scores, run.suite.spec.categories, run.scoring.aggregate, run.scoring.scale)


def _consistency(run: Run) -> str | None:
    """The bootstrap's re-aggregation must reproduce the suite's official numbers, else CIs are of another statistic."""
    design = stats.make_design(run.scores, run.suite.spec.categories, run.scoring.aggregate, run.scoring.scale)
    if not design.prompt_ids:
        return None
    overall, cats = stats.statistic(design, np.ones((1, len(design.prompt_ids))))
    pairs = [(OVERALL, overall[0], run.official.overall)]
    pairs += [(c, cats[0, j], run.official.categories.get(c)) for j, c in enumerate(design.categories)]
    for name, mine, theirs in pairs:
        if theirs is not None and not np.isclose(mine, theirs, rtol=1e-9, atol=1e-12):
            return (f"{run.label}: the per-image scores re-aggregate to {name} = {mine:.6g} but the suite's summarize "
                    f"gives {theirs:.6g}; its intervals are not of the official statistic (fix the suite's "
                    "report_scoring())")
    return None


def _arm_row(arm: Arm, columns: list[str], role: str, boot: stats.Bootstrap | None) -> Row:
    cells = {}
    for col in columns:
        values = [r.official.overall if col == OVERALL else r.official.categories.get(col) for r in arm.runs]
        spread = stats.mean_sd(values)
        interval = None
        if boot is not None:
            interval = boot.overall if col == OVERALL else boot.categories.get(col)
        cells[col] = Cell(spread.mean, spread.sd, spread.n, interval.low if interval else None,
                          interval.high if interval else None)
    within = sorted({k for r in arm.runs[1:] for k in flagged_kinds(arm.first.manifest, r.manifest)})
    return Row(
        label=arm.label, role=role, cells=cells,
        scored=sum(r.coverage["scored"] for r in arm.runs), expected=sum(r.expected for r in arm.runs),
        runs=[str(r.path) for r in arm.runs],
        flags=[f"seed runs differ: {k}" for k in within], bootstrap=boot,
    )


def _with_deltas(row: Row, base: Row) -> None:
    for col, cell in row.cells.items():
        ref = base.cells.get(col)
        if cell.value is not None and ref is not None and ref.value is not None:
            row.cells[col] = Cell(cell.value, cell.sd, cell.n_runs, cell.low, cell.high, cell.value - ref.value)


def _reference_rows(arms: list[Arm], columns: list[str], footnotes: list[str]) -> list[Row]:
    spec = arms[0].first.suite.spec
    rows = []
    for ref in spec.references:
        why = {run.label: protocol_mismatches(run.manifest, spec, ref) for arm in arms for run in arm.runs}
        why = {label: reasons for label, reasons in why.items() if reasons}
        cells = {col: Cell(ref.categories.get(col), n_runs=0) for col in columns if col != OVERALL}
        cells[OVERALL] = Cell(ref.value, n_runs=0)
        note = f"{ref.metric}" + (f"; prompts: {ref.prompts}" if ref.prompts else "") + f"; source: {ref.source}"
        extra = {k: v for k, v in ref.categories.items() if k not in columns}
        if extra:
            note += "; also published: " + ", ".join(f"{k} {v}" for k, v in extra.items())
        if ref.note:
            note += f"; {ref.note}"
        label = f"{ref.model} (published)" + (f" [{ref.prompts}]" if ref.prompts else "")
        row = Row(label=label, role=PUBLISHED_OTHER if why else PUBLISHED, cells=cells, note=note)
        if why:
            row.flags = [f"{label}: {'; '.join(reasons)}" for label, reasons in why.items()]
            footnotes.append(f"{row.label}: published with the suite's protocol; the runs here differ: "
                             + " | ".join(row.flags))
        rows.append(row)
    return rows


def _columns(arms: list[Arm]) -> list[str]:
    spec_cats = list(arms[0].first.suite.spec.categories)
    seen = [c for arm in arms for run in arm.runs for c in run.official.categories]
    return spec_cats + [c for c in dict.fromkeys(seen) if c not in spec_cats] + [OVERALL]


def _code_changes(arm: Arm) -> list[str]:
    """Runs continued under another uno commit (--allow-code-change): their results may mix code versions."""
    notes = []
    for run in arm.runs:
        seq = commits(run.manifest)
        if len(seq) < 2:
            continue
        name = run.label if len(arm.runs) == 1 else f"{run.label} ({run.path.name})"
        notes.append(f"{name}: made across {len(set(seq))} uno commits ({' -> '.join(map(short_commit, seq))}, "
                     f"continued with {CODE_CHANGE_FLAG}); its images and records may come from different code")
    return notes


def _digits(rows: list[Row]) -> int:
    values = [abs(c.value) for r in rows for c in r.cells.values() if c.value is not None]
    return 3 if values and max(values) <= 1.0 else 2


def suite_report(arms: list[Arm], n_boot: int, seed: int, level: float) -> SuiteReport:
    """`arms[0]` is the baseline."""
    base_arm = arms[0]
    spec = base_arm.first.suite.spec
    columns = _columns(arms)
    footnotes = [msg for arm in arms for run in arm.runs if (msg := _consistency(run))]
    footnotes += [msg for arm in arms for msg in _code_changes(arm)]
    designs = [_design(arm) for arm in arms]
    rows = []
    for i, (arm, design) in enumerate(zip(arms, designs)):
        boot = stats.bootstrap_ci(design, n_boot, seed, level) if design.prompt_ids else None
        row = _arm_row(arm, columns, BASELINE if i == 0 else MEASURED, boot)
        if i:
            row.flags = flagged_kinds(base_arm.first.manifest, arm.first.manifest) + row.flags
            _with_deltas(row, rows[0])
            if stats.common_prompts(designs[0], design):
                row.comparison = Comparison(
                    stats.paired_bootstrap(designs[0], design, n_boot, seed, level),
                    stats.sign_test(designs[0], design),
                    base_arm.first.manifest["suite"].get("samples_sha256")
                    == arm.first.manifest["suite"].get("samples_sha256"),
                    {r.base_seed for r in base_arm.runs} == {r.base_seed for r in arm.runs},
                )
        rows.append(row)
    rows += _reference_rows(arms, columns, footnotes)
    diffs = [prompt_diff(base_arm.first, arm.first) for arm in arms[1:]]
    return SuiteReport(spec.name, spec.title, spec.metric, columns, rows, arms, diffs, footnotes, _digits(rows))


def build_report(runs: list[Run], baseline: str | None = None, n_boot: int = stats.DEFAULT_B,
                 seed: int = stats.DEFAULT_SEED, level: float = stats.DEFAULT_LEVEL) -> Report:
    """One table per suite. `baseline` is a label (default: the first run's); it comes first in every suite."""
    if not runs:
        raise UnoError("no runs to report")
    baseline = baseline or runs[0].label
    if baseline not in {r.label for r in runs}:
        raise UnoError(f"--baseline {baseline!r} is not the label of any run given "
                       f"(labels: {', '.join(dict.fromkeys(r.label for r in runs))})")
    suites = []
    for arms in group_arms(runs).values():
        arms.sort(key=lambda a: a.label != baseline)  # stable: the baseline first, the rest as given
        suite = suite_report(arms, n_boot, seed, level)
        if arms[0].label != baseline:
            suite.footnotes.insert(0, f"no run labelled {baseline!r} in this suite: {arms[0].label!r} is its baseline")
        suites.append(suite)
    return Report(suites, n_boot, seed, level, baseline)
