"""The synthetic shapes suite: GenEval's tasks, layout, rules and aggregation over a shapes world.

Prompts come from `uno_bench.shapes.world.generate_suite(n_per_task, seed)` with the spec's
`[generator]` values (or from `--prompts-file`, GenEval-format records over shape classes); the
detector vocabulary is the world's shape classes; the default judge is the analytic one.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from uno_bench.suites.base import Sample
from uno_bench.suites.geneval import GenEvalSuite


class ShapesSuite(GenEvalSuite):
    def load_samples(self, prompts_file: Path | None = None) -> list[Sample]:
        if prompts_file is not None:
            return super().load_samples(prompts_file)
        from uno_bench.shapes.world import generate_suite

        params = self.spec.generator
        items = generate_suite(int(params["n_per_task"]), int(params.get("seed", 0)), bool(params.get("fill", False)))
        return [Sample(item.prompt_id, item.prompt, item.tag, item.metadata) for item in items]

    @cached_property
    def classes(self) -> list[str]:
        from uno_bench.shapes.world import SHAPES

        return list(SHAPES)
