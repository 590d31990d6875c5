"""KRIS-Bench (mercurystraw/Kris_Bench, NeurIPS 2025; docs/edit_suites.md): knowledge-based editing in 20
tasks, judged 1-5 by GPT-4o on visual consistency (VC), visual quality (VQ), instruction following (IF)
and, for the knowledge tasks, knowledge plausibility (KP).

Data: BAGEL's consolidated annotations `final_data.json` (pinned; keys `ins_en`, `explain_en`, category
`count_change`, as released: upstream's `instruction`/`explain`/`object_count` lookups would send empty
instructions) and the images `KRIS_Bench/<category>/<file>` (`uno-bench suites fetch kris`); each
sample's metadata carries its images' sha256. Sample id = `<category>.<id>` (ids repeat across
categories). The model gets every `ori_img` in order (multi-image tasks need all of them).
Layout: `<root>/<category>/<id>.png` (BAGEL's; upstream reads `.jpg`).

Judging follows the five upstream metric scripts, with their message layouts and image encodings:
  common     count_change, color_change, anomaly_correction, position_movement, size_adjustment,
             part_completion, multi-instruction_execution: VC, IF, VQ
  knowledge  the 10 knowledge tasks: VC, one "dual" call giving IF and KP (receives `explain_en`), VQ
  multi      multi-element_composition: VC and IF over "Reference Image k:" + "Predicted Image:"
  temporal   temporal_prediction: frames in order, "Frame n (Reference|Generated):", JPEG q85
  view       viewpoint_change: IF with the dedicated viewpoint prompt and the ground truth when present
Each query: the prompt text, then labelled images ("This is the original image:", "This is the edited
image:", ...), files sent as their bytes labelled image/jpeg (temporal: re-encoded JPEG q85),
max_tokens 1000. The quality prompt is sent unformatted, as upstream does (its doubled braces stay).
The dedicated anomaly-correction IF prompt never fires upstream (it checks a folder name that does not
exist); `--judge-option anomaly_prompt=1` uses it (labelled: not the official protocol).

Two copies of the scorer exist, and `--judge-option scorer=` says which one is reproduced:
  bagel (default)  BAGEL's `eval/gen/kris/` (ByteDance-Seed/Bagel @ 056b5fd), the scripts behind the
                   published BAGEL numbers that UNO compares with;
  release          the benchmark release (mercurystraw/Kris_Bench), labelled in the judge identity
                   and the summary.
Parsing (per script): a JSON object holding the score key, else "<name> score: n" (common and view
scripts: colon optional; knowledge script: optional in BAGEL's copy, required in the release), "n/5",
"n out of 5", and finally the first standalone digit 1-5 anywhere in the reply (which can pick up a
wrong digit: every record says which rule fired and summaries count the fallbacks). Where the JSON
object holds the key with a null value, the knowledge script (both copies) returns None at once, while
the shared extractor of the other scripts goes on to the patterns. The dual reply: the release reads
the first flat {...} holding instruction_score, else `instruction score: n` / `knowledge score: n`;
BAGEL's copy is more lenient: the whole reply as JSON, else the first balanced (nested) {...} block,
else the patterns with optional quotes around the key (`"instruction_score": 3` in malformed JSON).
A reply never obtained (API error on every transport retry) is an empty reply, as upstream: only that
score is lost (`api_errors` in the record). `max_attempts` (default 1) can ask again for missing
scores first. An image with no score at all is unscored, with its replies.

Aggregation (BAGEL `eval/gen/kris/summarize.py`): every score s -> (s-1) x 25; per task and metric the
mean; per dimension and knowledge type the pooled mean of all values; overall = the pooled mean of all
normalised values (so tasks with KP, or more samples, weigh more). BAGEL's metric scripts keep only the
items with every score present (`collect_jsonl_to_dict`), so with scorer=bagel an image with any
missing score is dropped whole (`images.dropped_incomplete`); the release keeps the item's other
scores. The summary gives both aggregations under `aggregations`, the headline being the copy's own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from PIL import Image

from uno_bench.errors import UnoError
from uno_bench.judges.protocol import ProtocolJudge, stats
from uno_bench.judges.vlm import Answer, ImageInput, JudgeUnavailableError, Query, text_sha256
from uno_bench.suites import kris_prompts as P
from uno_bench.suites.base import Sample, Suite
from uno_bench.suites.edit_common import (
    UnparseableReplyError,
    file_input,
    jpeg_input,
    load_edit_judge,
    load_rgb,
    protocol_option,
)
from uno_bench.suites.edit_data import KRIS_DIR, find_images, require_images, sha256_file
from uno_bench.suites.vqa import judge_label, judge_summary, stats_total

PARSER_VERSION = 2
MAX_TOKENS = 1000
SCORERS = ("bagel", "release")  # which copy of the KRIS scorer is reproduced (module docstring)
OFFICIAL_MODELS = ("gpt-4o",)
METRICS = ("VC", "VQ", "IF", "KP")
KNOWLEDGE_TASKS = ("abstract_reasoning", "mathematics", "practical_knowledge", "medicine", "rule-based_reasoning",
                   "biology", "geography", "chemistry", "humanities", "physics")
SCRIPTS = {**{t: "common" for t in ("count_change", "color_change", "anomaly_correction", "position_movement",
                                      "size_adjustment", "part_completion", "multi-instruction_execution")},
           **{t: "knowledge" for t in KNOWLEDGE_TASKS},
           "multi-element_composition": "multi", "temporal_prediction": "temporal", "viewpoint_change": "view"}
TAXONOMY = {  # task -> (dimension, knowledge type), as in ByteDance-Seed/Bagel eval/gen/kris/summarize.py
    **{t: ("Attribute Perception", "Factual") for t in ("count_change", "color_change", "size_adjustment",
                                                        "part_completion", "anomaly_correction")},
    "viewpoint_change": ("Spatial Perception", "Factual"), "position_movement": ("Spatial Perception", "Factual"),
    "temporal_prediction": ("Temporal Prediction", "Factual"),
    "humanities": ("Social Science", "Conceptual"), "practical_knowledge": ("Social Science", "Conceptual"),
    **{t: ("Natural Science", "Conceptual") for t in ("biology", "chemistry", "geography", "medicine", "mathematics",
                                                      "physics")},
    "abstract_reasoning": ("Logical Reasoning", "Procedural"), "rule-based_reasoning": ("Logical Reasoning", "Procedural"),
    "multi-element_composition": ("Instruction Decomposition", "Procedural"),
    "multi-instruction_execution": ("Instruction Decomposition", "Procedural"),
}
_NAMES = {"VC": "consistency", "IF": "instruction", "VQ": "quality", "KP": "knowledge"}
_DEFAULT_PATTERNS = ((r"([1-5])\s*/\s*5", "n/5"), (r"([1-5])\s+out\s+of\s+5", "n out of 5"))


# ------------------------------------------------------------------------------------------ parsing


def _json_score(text: str, key: str) -> tuple[int | None, bool]:
    """(score, found a JSON object with the key) from the first {...} holding `key`, as upstream."""
    match = re.search(r"\{[^{}]*" + re.escape(key) + r"[^{}]*\}", text, re.DOTALL)
    if not match:
        return None, False
    try:
        value = json.loads(match.group(0)).get(key)
        return (int(value) if value is not None else None), True
    except Exception:  # noqa: BLE001 - upstream treats any failure here as "no JSON score"
        return None, False


def parse_score(text: str | None, metric: str, script: str, scorer: str = "bagel") -> tuple[int | None, str | None]:
    """(score, which rule found it) for VC / IF / VQ replies, per the script's extractor in `scorer`'s copy."""
    text = text or ""
    key = f"{_NAMES[metric]}_score"
    score, found = _json_score(text, key)
    if score is not None:
        return score, "json"
    if found and script == "knowledge":  # its own extractors return the JSON value, null included
        return None, "json null"
    patterns: list[tuple[str, str]] = list(_DEFAULT_PATTERNS)
    colon = r"[:：]" if (script == "knowledge" and scorer == "release") else r"[:：]?"
    if script in ("common", "view", "knowledge"):
        patterns.insert(0, (_NAMES[metric] + r"[_\s]*score\s*" + colon + r"\s*([1-5])", "named"))
    for pattern, rule in patterns:
        m = re.search(pattern, text, re.IGNORECASE | re.DOTALL)
        if m:
            return int(m.group(1)), rule
    m = re.search(r"\b([1-5])\b", text)
    return (int(m.group(1)), "first digit") if m else (None, None)


def _balanced_block(text: str) -> str | None:
    """The first {...} whose braces balance (nested objects included), as BAGEL's extract_json_block."""
    depth, start = 0, None
    for i, c in enumerate(text):
        if c == "{":
            start = i if start is None else start
            depth += 1
        elif c == "}" and depth:
            depth -= 1
            if depth == 0 and start is not None:
                return text[start : i + 1]
    return None


def parse_dual(text: str | None, scorer: str = "bagel") -> dict[str, tuple[int | None, str | None]]:
    """IF and KP from the knowledge script's dual reply (no digit fallback), per `scorer`'s copy."""
    text = text or ""
    if scorer == "bagel":
        data: Any = None
        try:
            data = json.loads(text)
        except ValueError:
            block = _balanced_block(text)
            try:
                data = json.loads(block) if block else None
            except ValueError:
                data = None
        if data:
            if not isinstance(data, dict):  # BAGEL's code crashes here and loses the image's results
                return {"IF": (None, "not a JSON object"), "KP": (None, "not a JSON object")}
            out: dict[str, tuple[int | None, str | None]] = {}
            for metric in ("IF", "KP"):
                value = data.get(f"{_NAMES[metric]}_score")
                try:
                    out[metric] = (int(value), "json") if value is not None else (None, "json null")
                except (TypeError, ValueError):  # BAGEL's int() raises: no score either way
                    out[metric] = (None, "json not a number")
            return out
        named = r'"?{}[_\s]*score"?\s*:\s*([1-5])'
    else:
        match = re.search(r"\{[^{}]*instruction_score[^{}]*\}", text, re.DOTALL)
        if match:
            try:
                data = json.loads(match.group(0))
                i, k = data.get("instruction_score"), data.get("knowledge_score")
                return {"IF": (int(i) if i is not None else None, "json" if i is not None else None),
                        "KP": (int(k) if k is not None else None, "json" if k is not None else None)}
            except Exception:  # noqa: BLE001 - as upstream: fall back to the patterns
                pass
        named = r"{}[_\s]*score\s*[:：]\s*([1-5])"
    result: dict[str, tuple[int | None, str | None]] = {}
    for metric in ("IF", "KP"):
        m = re.search(named.format(_NAMES[metric]), text, re.IGNORECASE)
        result[metric] = (int(m.group(1)), "named") if m else (None, None)
    return result


def normalise(score: float) -> float:
    return (score - 1) * 25


def frame_numbers(files: list[str]) -> tuple[list[int], int]:
    """(frame number of each reference file, the predicted frame): "<a>-<n>" names frame n; the
    prediction is the one frame of 1-4 missing, else the next after the last (upstream's rule)."""
    numbers = []
    for name in files:
        m = re.search(r"(\d+)-(\d+)", name)
        if m:
            numbers.append(int(m.group(2)))
    missing = {1, 2, 3, 4} - set(numbers)
    return numbers, (missing.pop() if len(missing) == 1 else (max(numbers) + 1 if numbers else 1))


# ------------------------------------------------------------------------------------------ suite


class KrisSuite(Suite):
    def required_data(self, prompts_file: Path | None) -> list[str]:
        return [] if prompts_file is not None else ["annotations"]

    @cached_property
    def _images_dir(self) -> Path | None:
        return find_images(self.data_dir, KRIS_DIR, "KRIS_Bench")

    @property
    def _images_root(self) -> Path:
        """Where the source images are; loading samples works without them (their sha256 are then None)."""
        return require_images(self._images_dir, self.name, KRIS_DIR, "KRIS_Bench", "kris")

    def load_samples(self, prompts_file: Path | None = None) -> list[Sample]:
        path = Path(prompts_file) if prompts_file is not None else self.data_path("annotations")
        try:
            records = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise UnoError(f"{path}: not valid JSON ({exc.msg})") from None
        samples = []
        for number, rec in enumerate(records):
            category = rec.get("type")
            if category not in SCRIPTS or not isinstance(rec.get("ins_en"), str):
                raise UnoError(f"{path}: record {number} has an unknown type {category!r} or no ins_en")
            ori = rec["ori_img"] if isinstance(rec["ori_img"], list) else [rec["ori_img"]]
            gt = rec.get("gt_img") or ""
            meta = {"category": category, "id": str(rec["id"]), "ori_img": ori, "gt_img": gt,
                    "explain": rec.get("explain_en") or "",
                    "sha256": {f: self._sha(category, f) for f in [*ori, *([gt] if gt else [])]}}
            samples.append(Sample(f"{category}.{rec['id']}", rec["ins_en"], category, meta,
                                  where=f"{path.name} record {number}"))
        return samples

    def _sha(self, category: str, name: str) -> str | None:
        if self._images_dir is None:
            return None
        path = self._images_dir / category / name
        return sha256_file(path) if path.is_file() else None

    def _file(self, sample: Sample, name: str) -> Path:
        path = self._images_root / sample.metadata["category"] / name
        if not path.is_file():
            raise UnoError(f"image {path} is missing")
        want = sample.metadata["sha256"].get(name)
        if want and sha256_file(path) != want:
            raise UnoError(f"image {path} changed since the samples were loaded")
        return path

    def image_relpath(self, sample: Sample, index: int) -> str:
        meta = sample.metadata
        return f"{meta['category']}/{meta['id']}.png" if index == 0 else f"{meta['category']}/{meta['id']}_{index}.png"

    def source_images(self, sample: Sample) -> list[Image.Image]:
        return [load_rgb(self._file(sample, name)) for name in sample.metadata["ori_img"]]

    # ------------------------------------------------------------------------------------ judging

    def load_judge(self, name: str, options: Mapping[str, str]) -> ProtocolJudge:
        anomaly = options.get("anomaly_prompt", "0")
        if anomaly not in ("0", "1"):
            raise UnoError(f"--judge-option anomaly_prompt must be 0 or 1, not {anomaly!r}")
        scorer = options.get("scorer", "bagel")
        if scorer not in SCORERS:
            raise UnoError(f"--judge-option scorer must be {' or '.join(SCORERS)}, not {scorer!r}")
        protocol = {"suite": "kris", "parser_version": PARSER_VERSION, "max_tokens": MAX_TOKENS,
                    "prompts": text_sha256(json.dumps(P.ALL, sort_keys=True, ensure_ascii=False)),
                    "max_attempts": protocol_option(options, "max_attempts", 1), "anomaly_prompt": anomaly == "1",
                    "scorer": scorer}
        judge = load_edit_judge(name, options, protocol, {"max_attempts", "anomaly_prompt", "scorer"},
                                OFFICIAL_MODELS, "not KRIS-Bench's GPT-4o judge; not comparable with published numbers")
        if anomaly == "1":  # a protocol change: never labelled official
            judge.official = False
            judge.note = "anomaly_prompt=1: the dedicated anomaly-correction IF prompt (not the official protocol)"
        return judge

    def _queries(self, judge: ProtocolJudge, sample: Sample, path: Path, image: Image.Image,
                 attempt: int) -> dict[str, Query]:
        """metric ("VC", "IF", "DUAL", "VQ") -> query, laid out as the category's script sends it."""
        meta, ins = sample.metadata, sample.prompt
        script = SCRIPTS[meta["category"]]

        def q(text: str, images: tuple[ImageInput, ...], parts: tuple[str | int, ...]) -> Query:
            return Query(text, images, max_tokens=MAX_TOKENS, attempt=attempt, parts=(text, *parts))

        if script == "temporal":
            refs = [jpeg_input(load_rgb(self._file(sample, f)), 85) for f in meta["ori_img"]]
            pred = jpeg_input(image, 85)
            numbers, pred_n = frame_numbers(meta["ori_img"])
            frames = sorted([(n, k, "Reference") for k, n in enumerate(numbers)] + [(pred_n, len(refs), "Generated")])
            images = (*refs, pred)
            parts = tuple(x for n, k, kind in frames for x in (f"Frame {n} ({kind}):", k))
            return {"VC": q(P.CONSIST_TEMPORAL.format(N=pred_n, instruct=ins), images, parts),
                    "IF": q(P.INSTRUCTION_TEMPORAL.format(N=pred_n, instruct=ins), images, parts),
                    "VQ": q(P.QUALITY, (pred,), ("This is the image to evaluate:", 0))}
        edited = file_input(path, "image/jpeg", image.convert("RGB"))
        if script == "multi":
            refs = [file_input(self._file(sample, f), "image/jpeg") for f in meta["ori_img"]]
            parts = tuple(x for k in range(len(refs)) for x in (f"Reference Image {k + 1}:", k))
            parts += ("Predicted Image:", len(refs))
            return {"VC": q(P.CONSIST_MULTI.format(instruct=ins), (*refs, edited), parts),
                    "IF": q(P.INSTRUCTION_MULTI.format(instruct=ins), (*refs, edited), parts),
                    "VQ": q(P.QUALITY, (edited,), ("This is the image to evaluate:", 0))}
        original = file_input(self._file(sample, meta["ori_img"][-1]), "image/jpeg")
        pair = (original, edited)
        two = ("This is the original image:", 0, "This is the edited image:", 1)
        out = {"VC": q(P.CONSIST.format(instruct=ins), pair, two),
               "VQ": q(P.QUALITY, (edited,), ("This is the edited image:", 0))}
        if script == "knowledge":
            out["DUAL"] = q(P.DUAL_EVALUATION.format(instruct=ins, explanation=meta["explain"]), pair, two)
        elif script == "view" and meta["gt_img"]:
            gt = file_input(self._file(sample, meta["gt_img"]), "image/jpeg")
            out["IF"] = q(P.VIEW_INSTRUCTION_FOLLOWING.format(instruct=ins), (*pair, gt),
                          (*two, "This is the ground truth image:", 2))
        elif meta["category"] == "anomaly_correction" and judge.protocol["anomaly_prompt"]:
            out["IF"] = q(P.ABNORMAL_INSTRUCTION_FOLLOWING.format(instruct=ins, explanation=meta["explain"]), pair, two)
        else:
            out["IF"] = q(P.INSTRUCTION_FOLLOWING.format(instruct=ins), pair, two)
        return out

    def judge(self, judge: ProtocolJudge, sample: Sample, index: int, image: Image.Image, path: Path) -> dict[str, Any]:
        category = sample.metadata["category"]
        script = SCRIPTS[category]
        scorer = judge.protocol.get("scorer", "bagel")
        wanted = ("VC", "IF", "KP", "VQ") if script == "knowledge" else ("VC", "IF", "VQ")
        scores: dict[str, int | None] = {m: None for m in wanted}
        rules: dict[str, str | None] = {m: None for m in wanted}
        replies: dict[str, str | None] = {}
        answers: list[Answer] = []
        api_errors: dict[str, str] = {}
        lost = {"calls": 0, "retries": 0}
        attempts = 0
        for attempt in range(judge.protocol["max_attempts"]):
            queries = {k: v for k, v in self._queries(judge, sample, path, image, attempt).items()
                       if (k == "DUAL" and (scores["IF"] is None or scores["KP"] is None)) or scores.get(k, 0) is None}
            if not queries:
                break
            attempts += 1
            for key, query in queries.items():  # one at a time: a failed call loses only its own score
                try:
                    [answer] = judge.ask([query])
                except JudgeUnavailableError as exc:  # upstream: an empty reply after its retries
                    api_errors[key] = str(exc)
                    for field_ in lost:
                        lost[field_] += exc.record_fields["judge_stats"][field_]
                    replies[key] = None
                    continue
                answers.append(answer)
                api_errors.pop(key, None)
                replies[key] = answer.text
                parsed = (parse_dual(answer.text, scorer) if key == "DUAL"
                          else {key: parse_score(answer.text, key, script, scorer)})
                for metric, (value, rule) in parsed.items():
                    if scores[metric] is None:
                        scores[metric], rules[metric] = value, rule
        dimension, ktype = TAXONOMY[category]
        judge_stats = stats(answers)
        judge_stats["calls"] += lost["calls"]
        judge_stats["retries"] += lost["retries"]
        base = {"prompt": sample.prompt, "category": category, "dimension": dimension, "knowledge_type": ktype,
                "replies": replies, "judge": judge_label(judge), "scorer": scorer,
                "api_errors": api_errors, "judge_stats": {**judge_stats, "attempts": attempts}}
        present = {m: s for m, s in scores.items() if s is not None}
        if not present:
            why = f"API errors: {', '.join(sorted(api_errors))}" if api_errors else "no score"
            raise UnparseableReplyError(f"no score in any of the {len(wanted)} metrics ({why})", base)
        normalised = {m: normalise(s) for m, s in present.items()}
        complete = len(present) == len(scores)
        mean = sum(normalised.values()) / len(normalised)
        return {**base, "scores": scores, "parse_rules": rules, "normalised": normalised,
                "missing": [m for m, s in scores.items() if s is None], "complete": complete,
                "out_of_range": [m for m, s in present.items() if not 1 <= s <= 5],
                # what the copy's aggregation counts: BAGEL's drops an incomplete image whole
                "score": mean if complete or scorer == "release" else None, "score_present": mean,
                "weight": len(normalised)}

    def unscored_record(self, sample: Sample, relpath: str | None, reason: str) -> dict[str, Any]:
        dimension, ktype = TAXONOMY[sample.metadata["category"]]
        return {"prompt": sample.prompt, "category": sample.metadata["category"], "dimension": dimension,
                "knowledge_type": ktype}

    def summarize(self, records: list[dict[str, Any]], expected: int) -> dict[str, Any]:
        return summarize(records, self.spec.categories)

    def report_scoring(self) -> Any:
        """Per image the mean of its normalised scores, weighted by how many it has: the weighted mean
        over images is the official pooled mean, per task and overall."""
        from uno_bench.report.scoring import Scoring

        return Scoring(aggregate="mean", score_fields=("score",), category_fields=("category",),
                       weight_fields=("weight",), summary_categories=("categories",), summary_value_keys=("AVG",))


def _pool(records: list[dict[str, Any]]) -> dict[str, Any]:
    values: dict[str, list[float]] = {m: [] for m in METRICS}
    for r in records:
        for m, v in r["normalised"].items():
            values[m].append(v)
    every = [v for vs in values.values() for v in vs]
    out: dict[str, Any] = {m: sum(vs) / len(vs) for m, vs in values.items() if vs}
    out["AVG"] = sum(every) / len(every) if every else None
    out["n_images"], out["n_values"] = len(records), len(every)
    return out


def _aggregate(scored: list[dict[str, Any]], tasks: tuple[str, ...]) -> dict[str, Any]:
    def grouped(field: str, order: list[str]) -> dict[str, Any]:
        groups: dict[str, list[dict[str, Any]]] = {}
        for r in scored:
            groups.setdefault(r[field], []).append(r)
        return {g: _pool(groups[g]) for g in [*[o for o in order if o in groups], *sorted(set(groups) - set(order))]}

    overall = _pool(scored)
    return {
        "overall": overall["AVG"],
        "categories": grouped("category", list(tasks)),
        "dimensions": grouped("dimension", list(dict.fromkeys(d for d, _ in TAXONOMY.values()))),
        "knowledge_types": grouped("knowledge_type", ["Factual", "Conceptual", "Procedural"]),
        "metrics": {m: overall[m] for m in METRICS if m in overall},
        "values": overall["n_values"],
    }


def _complete(r: dict[str, Any]) -> bool:
    return bool(r.get("complete", not r.get("missing")))


def summarize(records: list[dict[str, Any]], tasks: tuple[str, ...] = ()) -> dict[str, Any]:
    scored = [r for r in records if r.get("scored")]
    scorer = next((r["scorer"] for r in scored if r.get("scorer")), "bagel")
    every_score = _aggregate(scored, tasks)
    complete_only = _aggregate([r for r in scored if _complete(r)], tasks)
    headline = complete_only if scorer == "bagel" else every_score
    rules: dict[str, int] = {}
    for r in scored:
        for rule in (r.get("parse_rules") or {}).values():
            rules[str(rule)] = rules.get(str(rule), 0) + 1
    incomplete = sum(1 for r in scored if not _complete(r))
    return {
        **headline,
        "scorer": scorer,
        "overall_definition": "pooled mean of every normalised (s - 1) x 25 score (VC, VQ, IF and KP where judged)"
        + (", over the images with every score present (BAGEL's eval/gen/kris scripts drop the others)"
           if scorer == "bagel" else ", every present score counted (the release's scripts)"),
        "aggregations": {
            "complete_images_only": {"overall": complete_only["overall"], "values": complete_only["values"],
                                     "label": "BAGEL eval/gen/kris: items with any missing score dropped"},
            "every_present_score": {"overall": every_score["overall"], "values": every_score["values"],
                                    "label": "release: an item's missing score skipped, its others kept"},
        },
        "images": {"judged": len(scored),
                   "unscored_no_score": sum("no score in any" in str(r.get("unscored_reason")) for r in records),
                   "with_missing_scores": incomplete,
                   "dropped_incomplete": incomplete if scorer == "bagel" else 0,
                   "with_api_errors": sum(1 for r in scored if r.get("api_errors"))},
        "parse_rules": dict(sorted(rules.items())),
        "first_digit_fallbacks": rules.get("first digit", 0),
        "out_of_range_scores": sum(len(r.get("out_of_range") or []) for r in scored),
        "judge": judge_summary(records),
        "judge_stats": stats_total(records),
    }
