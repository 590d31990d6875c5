"""ImgEdit-Bench, basic suite (PKU-YuanGroup/ImgEdit `Benchmark/Basic/`; docs/edit_suites.md): 737 edits in
9 types, each judged 1-5 on three criteria by a GPT judge with the type's template.

Data: `basic_edit.json` and the nine judge templates `prompts.json` (both pinned by sha256), source
images from Benchmark.tar (`singleturn/<id>`, fetched by `uno-bench suites fetch imgedit`); each
sample's metadata carries its source image's sha256. Sample id = the JSON key, in file order.
Layout: `<root>/<key>.png`.

Judging (`basic_bench.py`): one query per image: the type's template with `<edit_prompt>` replaced by
the instruction, then the source image, then the edit, both sent as their file bytes labelled
image/png (as upstream, even for JPEG sources). Upstream sets no max_tokens; the query asks for
MAX_TOKENS (far above the ~80-token replies). Upstream makes no protocol retry; `max_attempts`
(default 1) can ask again when a reply holds no score line.

Scores (`step1_get_avgscore.py`): every reply line that splits on ": " into exactly two parts whose
second part is all digits counts as a score (so `**Key**: 4` and even "Brief reasoning: 2" count;
"4/5" and "3.5" do not); the item score is their mean rounded to 2 decimals. A reply without any
score line: upstream the item silently vanishes; here it is unscored with the reply and counted.
A digit string int() rejects (e.g. superscripts, which would crash upstream) is skipped and noted.

Aggregation (`step2_typescore.py`): per edit type the mean of the item scores (upstream rounds it to
2 decimals: `official` in each type row). Two overall numbers, labelled: `overall` (= `overall_macro`)
is the unweighted mean over the types present (the leaderboard's "averaging all scores across
tasks"), `overall_micro` the mean over all items (BAGEL's step 2). Both also rounded as the scripts
would print them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from PIL import Image

from uno_bench.errors import UnoError
from uno_bench.judges.protocol import ProtocolJudge, stats
from uno_bench.judges.vlm import Answer, Query, text_sha256
from uno_bench.suites.base import Sample, Suite
from uno_bench.suites.edit_common import (
    UnparseableReplyError,
    file_input,
    load_edit_judge,
    load_rgb,
    protocol_option,
)
from uno_bench.suites.edit_data import IMGEDIT_DIR, find_images, require_images, sha256_file
from uno_bench.suites.vqa import judge_label, judge_summary, stats_total

PARSER_VERSION = 1
MAX_TOKENS = 4096
OFFICIAL_MODELS = ("gpt-4.1", "gpt-4o")  # the leaderboard's GPT-4.1, the script's gpt-4o (BAGEL: gpt-4o-2024-11-20)


def parse_reply(text: str | None) -> tuple[list[tuple[str, int]], list[str]]:
    """(score lines as (name, value), notes about lines upstream would crash on)."""
    scores: list[tuple[str, int]] = []
    notes: list[str] = []
    for line in (text or "").splitlines():
        parts = line.strip().split(": ")
        if len(parts) == 2 and parts[1].isdigit():
            try:
                scores.append((parts[0], int(parts[1])))
            except ValueError:
                notes.append(f"skipped {line.strip()!r}: not an integer to int() (upstream would crash)")
    return scores, notes


def item_score(values: list[int]) -> float:
    """Step 1: the mean of the score lines, rounded to 2 decimals (Python's round on the float)."""
    return round(sum(values) / len(values), 2)


class ImgEditSuite(Suite):
    def required_data(self, prompts_file: Path | None) -> list[str]:
        keys = ["judge_prompts"]
        return keys if prompts_file is not None else ["basic_edit", *keys]

    @cached_property
    def _images_dir(self) -> Path | None:
        return find_images(self.data_dir, IMGEDIT_DIR, "singleturn")

    @property
    def _images_root(self) -> Path:
        """Where the source images are; loading samples works without them (their sha256 are then None)."""
        return require_images(self._images_dir, self.name, IMGEDIT_DIR, "singleturn", "imgedit")

    @cached_property
    def templates(self) -> dict[str, str]:
        return json.loads(self.data_path("judge_prompts").read_text(encoding="utf-8"))

    def load_samples(self, prompts_file: Path | None = None) -> list[Sample]:
        path = Path(prompts_file) if prompts_file is not None else self.data_path("basic_edit")
        try:
            items = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise UnoError(f"{path}: not valid JSON ({exc.msg})") from None
        samples = []
        for number, (key, item) in enumerate(items.items()):
            if not {"id", "prompt", "edit_type"} <= set(item):
                raise UnoError(f"{path}: item {key!r} needs id, prompt and edit_type")
            source = None if self._images_dir is None else self._images_dir / item["id"]
            meta = {"source": item["id"], "edit_type": item["edit_type"],
                    "source_sha256": sha256_file(source) if source is not None and source.is_file() else None}
            samples.append(Sample(str(key), item["prompt"], item["edit_type"], meta,
                                  where=f"{path.name} item {number}"))
        return samples

    def image_relpath(self, sample: Sample, index: int) -> str:
        return f"{sample.id}.png" if index == 0 else f"{sample.id}_{index}.png"

    def _source(self, sample: Sample) -> Path:
        path = self._images_root / sample.metadata["source"]
        if not path.is_file():
            raise UnoError(f"source image {path} is missing")
        if sample.metadata.get("source_sha256") and sha256_file(path) != sample.metadata["source_sha256"]:
            raise UnoError(f"source image {path} changed since the samples were loaded")
        return path

    def source_images(self, sample: Sample) -> list[Image.Image]:
        return [load_rgb(self._source(sample))]

    def load_judge(self, name: str, options: Mapping[str, str]) -> ProtocolJudge:
        unknown = sorted(set(self.templates) ^ set(self.spec.categories))
        if unknown:
            raise UnoError(f"prompts.json and the spec disagree on the edit types: {', '.join(unknown)}")
        protocol = {"suite": "imgedit", "parser_version": PARSER_VERSION, "max_tokens": MAX_TOKENS,
                    "templates": text_sha256(json.dumps(self.templates, sort_keys=True, ensure_ascii=False)),
                    "images": "file bytes as image/png", "max_attempts": protocol_option(options, "max_attempts", 1)}
        return load_edit_judge(name, options, protocol, {"max_attempts"}, OFFICIAL_MODELS,
                               "not an ImgEdit judge (GPT-4.1 leaderboard / gpt-4o script); not comparable "
                               "with published numbers")

    def judge(self, judge: ProtocolJudge, sample: Sample, index: int, image: Image.Image, path: Path) -> dict[str, Any]:
        edit_type = sample.metadata["edit_type"]
        if edit_type not in self.templates:
            raise UnoError(f"no judge template for edit type {edit_type!r}")
        text = self.templates[edit_type].replace("<edit_prompt>", sample.prompt)
        pictures = (file_input(self._source(sample), "image/png"), file_input(path, "image/png", image.convert("RGB")))
        answers: list[Answer] = []
        scores: list[tuple[str, int]] = []
        notes: list[str] = []
        for attempt in range(judge.protocol["max_attempts"]):
            answer = judge.ask([Query(text, pictures, image_first=False, max_tokens=MAX_TOKENS, attempt=attempt)])[0]
            answers.append(answer)
            scores, notes = parse_reply(answer.text)
            if scores:
                break
        base = {"prompt": sample.prompt, "category": edit_type, "judge": judge_label(judge),
                "judge_stats": {**stats(answers), "attempts": len(answers)}}
        if not scores:
            raise UnparseableReplyError(f"no score line in {len(answers)} judge reply(ies)",
                                        {**base, "replies": [a.text for a in answers], "notes": notes})
        values = [v for _, v in scores]
        return {**base, "criteria": [[k, v] for k, v in scores], "score": item_score(values),
                "score_unrounded": sum(values) / len(values), "reply": answers[-1].text, "notes": notes}

    def unscored_record(self, sample: Sample, relpath: str | None, reason: str) -> dict[str, Any]:
        return {"prompt": sample.prompt, "category": sample.metadata["edit_type"]}

    def summarize(self, records: list[dict[str, Any]], expected: int) -> dict[str, Any]:
        return summarize(records, self.spec.categories)

    def report_scoring(self) -> Any:
        """Per image the step-1 score in its edit type; overall = mean over types (macro)."""
        from uno_bench.report.scoring import Scoring

        return Scoring(aggregate="category_means", score_fields=("score",), category_fields=("category",),
                       summary_categories=("categories",), summary_value_keys=("score",))


def summarize(records: list[dict[str, Any]], types: tuple[str, ...] = ()) -> dict[str, Any]:
    scored = [r for r in records if r.get("scored")]
    by_type: dict[str, list[float]] = {}
    for r in scored:
        by_type.setdefault(r["category"], []).append(r["score"])
    order = [t for t in types if t in by_type] + sorted(set(by_type) - set(types))
    table = {t: {"score": sum(by_type[t]) / len(by_type[t]), "official": round(sum(by_type[t]) / len(by_type[t]), 2),
                 "n": len(by_type[t])} for t in order}
    items = [r["score"] for r in scored]
    macro = sum(v["score"] for v in table.values()) / len(table) if table else None
    micro = sum(items) / len(items) if items else None
    return {
        "overall": macro,
        "overall_definition": "macro: unweighted mean over the edit types present of each type's mean item score "
                              "(leaderboard); overall_micro: mean over all items (BAGEL's step 2)",
        "overall_macro": macro,
        "overall_micro": micro,
        "official_rounded": {
            "types": {t: v["official"] for t, v in table.items()},
            "overall_macro": round(sum(v["official"] for v in table.values()) / len(table), 2) if table else None,
            "overall_micro": round(micro, 2) if micro is not None else None,
        },
        "categories": table,
        "types_present": len(table),
        "images": {"judged": len(scored),
                   "no_score_line": sum("no score line" in str(r.get("unscored_reason")) for r in records)},
        "judge": judge_summary(records),
        "judge_stats": stats_total(records),
    }
