"""UniGenBench++ (CodeGoat24/UniGenBench @ 49d0bce; docs/judges.md): checkpoint-level
binary judgments of each image by a VLM judge, EN/CN x short/long.

Variants are separate suites (unigenbench = English short, unigenbench_en_long, unigenbench_zh,
unigenbench_zh_long); the spec's one required data file names the variant. Samples: the CSV's 600
rows (id = `index`), checkpoints from `sub_dims_*` (Testpoints / 考点 and their descriptions).
en_long row 509 has a missing comma in its Testpoints list: it is repaired in memory (a comma
between adjacent string literals) with a logged warning; the file is never edited.
Layout: `<index>_<j>.png`, j = 0..3.

Judging: one chat call per image with the official prompt (unigenbench_prompts.py), the judge's
reply must hold `<analysis>[...]</analysis>` and `<score>[...]</score>` (first match of each,
parsed as Python literals) with one entry per checkpoint; otherwise the call is repeated, up to 11
attempts (the official max_retries + 1). A deterministic local judge (hf greedy, mPLUG) is asked
once, since repeating an identical greedy query cannot change the reply. An image whose replies
never parse is recorded unscored with the reason and counted, never as 0. As upstream, the parsed
reply is then stored as JSON and read back as a Python literal: a reply with true/false/null/NaN
values is dropped from the aggregation (counted here), and a checkpoint counts as correct only
when its score equals 1 ('1' or 2 count as wrong).

Aggregation (`calculate_scores`): pooled over images x checkpoints; primary dimension = the
checkpoint text before the first "-" (stripped here; upstream keys keep a trailing space), sub-
dimension = the full name; accuracy = correct / judged. Overall (leaderboard) = unweighted mean of
the primary-dimension accuracies, x 100.

Judges: `gemini-2.5-pro` (the leaderboard's) and the released offline judges served by vLLM
(`unigenbench-qwen`) are official; their numbers are only comparable within one judge. Any other
model is labelled non-official. Protocol option: max_attempts (default 11).
"""

from __future__ import annotations

import ast
import csv
import json
import logging
import re
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PIL import Image

from uno_bench.errors import UnoError
from uno_bench.judges.protocol import ProtocolJudge, stats
from uno_bench.judges.vlm import Answer, Query, text_sha256
from uno_bench.suites.base import Sample, Suite
from uno_bench.suites.unigenbench_prompts import (
    BLOCKS,
    DEFINITIONS_EN,
    DEFINITIONS_ZH,
    TEMPLATE_EN,
    TEMPLATE_ZH,
)
from uno_bench.suites.vqa import (
    image_input,
    judge_label,
    judge_summary,
    judged_backend,
    load_vlm_judge,
    stats_total,
)

log = logging.getLogger(__name__)

PARSER_VERSION = 1
MAX_ATTEMPTS = 11
MAX_TOKENS = 4096
OFFICIAL_MODELS = ("gemini-2.5-pro", "CodeGoat24/UniGenBench-EvalModel-qwen-72b-v1",
                   "CodeGoat24/UniGenBench-EvalModel-qwen3vl-32b-v1")
PRIMARY_EN = {"风格": "Style", "世界知识": "World Knowledge", "属性": "Attribute", "动作": "Action",
              "关系": "Relationship", "复合考点": "Compound", "语法": "Grammar", "逻辑推理": "Logical Reasoning",
              "实体布局": "Entity Layout", "文本生成": "Text Generation"}
_VARIANTS = {  # data key -> (language, prompt column, sub-dims column, checkpoint key, description key)
    "en": ("en", "prompt_en", "sub_dims_en", "Testpoints", "Testpoint Description"),
    "en_long": ("en", "prompt_en", "sub_dims_en", "Testpoints", "Testpoint Description"),
    "zh": ("zh", "prompt_zh", "sub_dims_zh", "考点", "考点对应描述"),
    "zh_long": ("zh", "prompt_zh", "sub_dims_zh", "考点", "考点对应描述"),
}
_ADJACENT_STRINGS = re.compile(r'"\s+"')


class UnparseableReplyError(UnoError):
    """No attempt produced a parseable reply: the image is unscored (the replies are kept)."""

    def __init__(self, message: str, record_fields: dict[str, Any]):
        super().__init__(message)
        self.record_fields = record_fields


def parse_sub_dims(text: str, where: str) -> dict[str, Any]:
    """The sub_dims JSON; the known missing-comma defect is repaired in memory, with a warning."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        repaired = _ADJACENT_STRINGS.sub('", "', text)
        try:
            value = json.loads(repaired)
        except json.JSONDecodeError:
            raise UnoError(f"{where}: sub_dims is not valid JSON ({exc.msg}) and no known repair applies") from None
        log.warning("%s: sub_dims has invalid JSON (%s); repaired in memory by inserting the missing comma",
                    where, exc.msg)
        return value


def render_prompt(language: str, prompt: str, checkpoints: list[str], descriptions: list[str]) -> str:
    """The official judge prompt for one image."""
    definitions = DEFINITIONS_EN if language == "en" else DEFINITIONS_ZH
    unknown = [c for c in checkpoints if c not in definitions]
    if unknown:
        raise UnoError(f"checkpoint(s) {unknown} have no official definition (the official script stops here)")
    head_def, head_desc = BLOCKS[language]
    explanation = head_def + "".join(f"\n{c}: {definitions[c]}" for c in checkpoints) + "\n」"
    test_explanation = head_desc + "".join(f"\n{c}: {d}" for c, d in zip(checkpoints, descriptions)) + "\n」"
    template = TEMPLATE_EN if language == "en" else TEMPLATE_ZH
    return template.format(prompt=prompt, testpoint=repr(list(checkpoints)), explanation=explanation,
                           test_explanation=test_explanation)


def parse_reply(text: str | None, n: int) -> tuple[Any, Any] | str:
    """(analysis, scores) as the official loop accepts them, or the kind of failure (a short string)."""
    if text is None:
        return "empty reply"
    analysis_match = re.search(r"<analysis>(.*?)</analysis>", text, re.DOTALL)
    score_match = re.search(r"<score>(.*?)</score>", text, re.DOTALL)
    if analysis_match is None or score_match is None:
        return "no <analysis>/<score> block"
    try:
        analysis = ast.literal_eval(analysis_match.group(1).strip())
        scores = ast.literal_eval(score_match.group(1).strip())
    except Exception:  # noqa: BLE001 - any literal_eval failure is a retry upstream
        return "not a Python literal"
    try:
        if len(analysis) != n or len(scores) != n:
            return "wrong number of entries"
    except TypeError:
        return "not a list"
    return analysis, scores


def official_hits(prompt: str, checkpoints: list[str], analysis: Any, scores: Any) -> tuple[list[bool] | None, str | None]:
    """Which checkpoints count as correct after the official JSON write and literal read-back, or why
    the official aggregation loses the image."""
    result = {"prompt": prompt, "testpoint": checkpoints, "analysis": analysis, "score": scores}
    try:
        dumped = json.dumps(result, ensure_ascii=False, indent=4)
    except (TypeError, ValueError):
        return None, "reply is not JSON-serialisable (the official script would crash)"
    try:
        back = ast.literal_eval(dumped)["score"]
    except Exception:  # noqa: BLE001
        return None, "reply holds true/false/null/NaN (dropped by the official aggregation)"
    if not isinstance(back, list):
        return None, "score is not a list (the official aggregation would crash)"
    return [s == 1 for _, s in zip(checkpoints, back)], None


def primary_of(checkpoint: str) -> str:
    return checkpoint.split("-", 1)[0].strip() if "-" in checkpoint else checkpoint


def _official(backend: dict[str, Any]) -> bool:
    return backend.get("name") == "openai" and str(backend.get("model", "")).startswith(OFFICIAL_MODELS)


class UniGenBenchSuite(Suite):
    @property
    def variant(self) -> str:
        for df in self.spec.data:
            if not df.optional and df.key in _VARIANTS:
                return df.key
        raise UnoError(f"suite {self.spec.name}: its spec names no required UniGenBench data file")

    def load_samples(self, prompts_file: Path | None = None) -> list[Sample]:
        language, prompt_col, dims_col, cp_key, desc_key = _VARIANTS[self.variant]
        path = prompts_file or self.data_path(self.variant)
        samples = []
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if not {"index", prompt_col, dims_col} <= set(reader.fieldnames or []):
                raise UnoError(f"{path}: expected columns index, {prompt_col}, {dims_col}")
            for row in reader:
                where = f"{path.name} index {row['index']}"
                dims = parse_sub_dims(row[dims_col], where)
                checkpoints, descriptions = dims.get(cp_key), dims.get(desc_key)
                if not isinstance(checkpoints, list) or not isinstance(descriptions, list) \
                        or len(checkpoints) != len(descriptions):
                    raise UnoError(f"{where}: {cp_key} and {desc_key} must be lists of equal length")
                raw = (row["index"] or "").strip()
                # A non-numeric index stays as written: the plan refuses unsafe ids with this row's line.
                index = str(int(raw)) if raw.isdigit() else raw
                samples.append(Sample(index, row[prompt_col], primary_of(checkpoints[0]) if checkpoints else "",
                                      {"language": language, "checkpoints": checkpoints,
                                       "descriptions": descriptions}, where=f"{path.name} line {reader.line_num}"))
        return samples

    def required_data(self, prompts_file: Path | None) -> list[str]:
        return [] if prompts_file is not None else [self.variant]

    def image_relpath(self, sample: Sample, index: int) -> str:
        return f"{sample.id}_{index}.png"

    def load_judge(self, name: str, options: Mapping[str, str]) -> ProtocolJudge:
        attempts = options.get("max_attempts", str(MAX_ATTEMPTS))
        if not attempts.isdigit() or int(attempts) < 1:
            raise UnoError(f"max_attempts must be a positive integer, not {attempts!r}")
        language = _VARIANTS[self.variant][0]
        protocol = {"suite": "unigenbench", "language": language, "parser_version": PARSER_VERSION,
                    "template": text_sha256(TEMPLATE_EN if language == "en" else TEMPLATE_ZH),
                    "definitions": text_sha256(json.dumps(DEFINITIONS_EN if language == "en" else DEFINITIONS_ZH,
                                                          ensure_ascii=False, sort_keys=True)),
                    "max_attempts": int(attempts), "max_tokens": MAX_TOKENS}
        judge, _ = load_vlm_judge(name, options, protocol, {"max_attempts"}, _official,
                                  "not a UniGenBench++ judge (Gemini 2.5 Pro or the released UniGenBench "
                                  "eval models); not comparable with the leaderboard")
        return judge

    def judge(self, judge: ProtocolJudge, sample: Sample, index: int, image: Image.Image, path: Path) -> dict[str, Any]:
        meta = sample.metadata
        checkpoints = list(meta["checkpoints"])
        text = render_prompt(meta["language"], sample.prompt, checkpoints, list(meta["descriptions"]))
        picture = (image_input(image, path),)
        max_attempts = 1 if _deterministic(judge) else judge.protocol["max_attempts"]
        answers: list[Answer] = []
        failures: list[str] = []
        parsed: tuple[Any, Any] | None = None
        for attempt in range(max_attempts):
            query = Query(text, picture, image_first=False, max_tokens=judge.protocol["max_tokens"], attempt=attempt)
            answer = judge.ask([query])[0]
            answers.append(answer)
            result = parse_reply(answer.text, len(checkpoints))
            if isinstance(result, str):
                failures.append(result)
                continue
            parsed = result
            break
        judge_stats = {**stats(answers), "attempts": len(answers)}
        if parsed is None:
            reason = f"no parseable judge reply in {len(answers)} attempt(s) (last: {failures[-1]})"
            raise UnparseableReplyError(reason, {
                "prompt": sample.prompt, "checkpoints": checkpoints, "parse_failures": failures,
                "replies": [a.text for a in answers], "judge": judge_label(judge), "judge_stats": judge_stats,
            })
        analysis, scores = parsed
        hits, drop = official_hits(sample.prompt, checkpoints, analysis, scores)
        return {
            "prompt": sample.prompt, "checkpoints": checkpoints, "correct": hits, "official_drop": drop,
            "scores_raw": [repr(s) for s in scores], "analysis": [a if isinstance(a, str) else repr(a) for a in analysis],
            "reply": answers[-1].text, "parse_failures": failures, "category": sample.category,
            "score": sum(hits) / len(hits) if hits else None,
            "judge": judge_label(judge), "judge_stats": judge_stats,
        }

    def unscored_record(self, sample: Sample, relpath: str | None, reason: str) -> dict[str, Any]:
        return {"prompt": sample.prompt, "checkpoints": list(sample.metadata["checkpoints"])}

    def summarize(self, records: list[dict[str, Any]], expected: int) -> dict[str, Any]:
        return summarize(records, _VARIANTS[self.variant][0], self.variant)


def _deterministic(judge: ProtocolJudge) -> bool:
    """Greedy local judges repeat their reply exactly (through a replay too: decided by the judged model)."""
    return judged_backend(judge.identity()["backend"]).get("name") in ("hf", "mplug")


def summarize(records: list[dict[str, Any]], language: str = "en", variant: str = "en") -> dict[str, Any]:
    primary: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    sub: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    judged = dropped = unparseable = 0
    drop_reasons: dict[str, int] = defaultdict(int)
    for r in records:
        if not r.get("scored"):
            unparseable += "no parseable judge reply" in str(r.get("unscored_reason"))
            continue
        if r.get("correct") is None:
            dropped += 1
            drop_reasons[str(r.get("official_drop"))] += 1
            continue
        judged += 1
        for checkpoint, hit in zip(r["checkpoints"], r["correct"]):
            for table, name in ((primary, primary_of(checkpoint)), (sub, checkpoint)):
                table[name][1] += 1
                table[name][0] += int(hit)

    def table(stats_: dict[str, list[int]]) -> dict[str, Any]:
        return {name: {"correct": c, "total": t, "accuracy": 100 * c / t if t else None}
                for name, (c, t) in sorted(stats_.items())}

    primaries = table(primary)
    accuracies = [v["accuracy"] for v in primaries.values() if v["accuracy"] is not None]
    english = {(PRIMARY_EN.get(k, k) if language == "zh" else k): v["accuracy"] for k, v in primaries.items()}
    return {
        "overall": sum(accuracies) / len(accuracies) if accuracies else None,
        "overall_definition": "unweighted mean of the primary-dimension accuracies (leaderboard)",
        "primary_dimensions": primaries,
        "sub_dimensions": table(sub),
        "categories": english,
        "dimensions_present": len(accuracies),
        "variant": variant,
        "images": {"aggregated": judged, "unparseable": unparseable, "dropped_official_quirk": dropped,
                   "dropped_reasons": dict(sorted(drop_reasons.items()))},
        "checkpoints_judged": sum(t for _, t in primary.values()),
        "judge": judge_summary(records),
        "judge_stats": stats_total(records),
    }
