"""GEdit-Bench (stepfun-ai/Step1X-Edit `GEdit-Bench/`; docs/edit_suites.md): 606 real-world edits per
language, judged by VIEScore's semantic-consistency (SC) and perceptual-quality (PQ) prompts.

Two suites, one per instruction language: `gedit` (en) and `gedit_cn` (cn; the data says "cn", not
"zh"). Data: the HF dataset stepfun-ai/GEdit-Bench in the unpacked layout of `edit_data` (fetch it
with `uno-bench suites fetch gedit`); the manifest records the sha256 of rows.jsonl, whose lines hold
every source image's sha256, and SOURCE.json beside it the dataset revision and parquet sha256s.
Sample id = the row's `key`; the model edits `input_image`.

Layout: `<root>/fullset/<task_type>/<lang>/<key>.png`, plus `<key>_SRCIMG.png` (the source as the
official example script writes it; written here after drawing). The score stage reads the source from
`<key>_SRCIMG.png` beside the edit, as the official scorer does (falling back to the dataset's image,
noted in the record, when a folder from another tool lacks it).

Judging (`test_gedit_score.py` + `viescore/`): the edit is converted to RGB and resized to the
source's size; then per attempt two queries, SC (instruction text, then source and edit) and PQ
(text, then the edit), JPEG at PIL's default quality after EXIF transposition, max_tokens 1400. If
either reply does not parse, both are asked again (attempt 1), as VIEScore re-asks the pair; after
`max_attempts` (default 2: the official first try and its one retry) the image is unscored with the
replies, never given VIEScore's random score; the summary counts how many of those the official number
would have filled with `random.randint(0, 10)` (`images.official_would_guess`). `--judge-option
guess_seed=N` reproduces the official guess instead, from a generator seeded by N and the image (so
reruns and resumed runs agree), labelled in the judge identity (manifest) and the summary. SC = min of
its scores, PQ = min of its scores (not clamped), O = sqrt(SC x PQ) per sample.

Aggregation (`calculate_statistics.py`): per task type the means of SC, PQ and per-sample O; the
Average = unweighted mean over the task types (present: a task without any scored image is left out
here, where the official script prints NaN; `tasks_present` says how many); the same over the
Intersection rows (`Intersection_exist`). overall = the full set's Average O.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from PIL import Image

from uno_bench.errors import UnoError
from uno_bench.judges.protocol import ProtocolJudge, stats
from uno_bench.judges.vlm import Answer, Query, text_sha256
from uno_bench.suites import data as suite_data
from uno_bench.suites import viescore
from uno_bench.suites.base import Sample, Suite
from uno_bench.suites.edit_common import (
    UnparseableReplyError,
    jpeg_input,
    load_edit_judge,
    load_rgb,
    protocol_option,
)
from uno_bench.suites.edit_data import GEDIT_DIR, find_dir, read_gedit_rows, sha256_file
from uno_bench.suites.spec import DataFile
from uno_bench.suites.vqa import judge_label, judge_summary, stats_total

PARSER_VERSION = 1
MAX_TOKENS = 1400  # VIEScore's GPT request
MAX_ATTEMPTS = 2
OFFICIAL_MODELS = ("gpt-4.1",)  # the `gpt4o` backbone option sends model "gpt-4.1" (BAGEL: gpt-4.1-2025-04-14)
DATASET_KEY = "dataset"


class GEditSuite(Suite):
    language = "en"

    # ------------------------------------------------------------------------------------ data

    def _folder(self, prompts_file: Path | None = None) -> Path:
        if prompts_file is not None:
            return Path(prompts_file).parent
        folder = find_dir(self.data_dir, GEDIT_DIR, "rows.jsonl")
        if folder is None:
            roots = ", ".join(str(r) for r in suite_data.data_roots(self.data_dir))
            raise UnoError(f"suite {self.name}: GEdit-Bench not found ({GEDIT_DIR}/rows.jsonl under {roots}); "
                           "run `uno-bench suites fetch gedit` or pass --data-dir")
        return folder

    def required_data(self, prompts_file: Path | None) -> list[str]:
        return [] if prompts_file is not None else [DATASET_KEY]

    def data_status(self, key: str) -> suite_data.FileStatus:
        if key != DATASET_KEY:
            return super().data_status(key)
        if key not in self._verified:
            path = self._folder() / "rows.jsonl"
            read_gedit_rows(path.parent)  # refuses a rows file that differs from the recorded one
            df = DataFile(DATASET_KEY, f"{GEDIT_DIR}/rows.jsonl", note="unpacked HF dataset stepfun-ai/GEdit-Bench")
            self._verified[key] = suite_data.FileStatus(df, "verified", path, sha256_file(path))
        return self._verified[key]

    def load_samples(self, prompts_file: Path | None = None) -> list[Sample]:
        folder = self._folder(prompts_file)
        self._rows_folder = folder  # not in the metadata: a sample must not depend on where the data sits
        samples = []
        # --prompts-file: that file, whatever its name
        for number, row in enumerate(read_gedit_rows(folder, prompts_file)):
            if row["instruction_language"] != self.language:
                continue
            meta = {"task_type": row["task_type"], "key": row["key"], "language": row["instruction_language"],
                    "intersection": bool(row.get("Intersection_exist")), "source_file": row["input_image"],
                    "source_sha256": row.get("input_image_sha256")}
            samples.append(Sample(str(row["key"]), row["instruction"], row["task_type"], meta,
                                  where=f"{prompts_file.name if prompts_file else 'rows.jsonl'} row {number}"))
        return samples

    def image_relpath(self, sample: Sample, index: int) -> str:
        meta = sample.metadata
        stem = sample.id if index == 0 else f"{sample.id}_sample{index}"  # extra samples as Step1X names them
        return f"fullset/{meta['task_type']}/{meta['language']}/{stem}.png"

    def _srcimg_relpath(self, sample: Sample) -> str:
        meta = sample.metadata
        return f"fullset/{meta['task_type']}/{meta['language']}/{sample.id}_SRCIMG.png"

    def _dataset_source(self, sample: Sample) -> Path:
        folder = getattr(self, "_rows_folder", None) or self._folder()
        path = folder / sample.metadata["source_file"]
        if not path.is_file():
            raise UnoError(f"source image {path} is missing")
        want = sample.metadata.get("source_sha256")
        if want and sha256_file(path) != want:
            raise UnoError(f"source image {path} differs from the one recorded in rows.jsonl")
        return path

    def source_images(self, sample: Sample) -> list[Image.Image]:
        return [load_rgb(self._dataset_source(sample))]

    def assemble(self, sample: Sample, root: Path, relpaths: list[str]) -> None:
        from uno_bench.runs.atomic import write_png

        target = root / self._srcimg_relpath(sample)
        if target.exists():
            return
        try:
            source = self._dataset_source(sample)
        except UnoError:
            return  # its image failed already; the score stage reports it
        with Image.open(source) as img:
            img.load()
            write_png(target, img.copy())  # the example script: input_image.save(<key>_SRCIMG.png)

    # ------------------------------------------------------------------------------------ judging

    @cached_property
    def _protocol_base(self) -> dict[str, Any]:
        return {"suite": "gedit", "parser_version": PARSER_VERSION, "sc_template": text_sha256(viescore.SC_TEMPLATE),
                "pq_prompt": text_sha256(viescore.PQ_PROMPT), "max_tokens": MAX_TOKENS,
                "images": "jpeg (PIL default quality) after EXIF transpose; edit resized to the source's size"}

    def load_judge(self, name: str, options: Mapping[str, str]) -> ProtocolJudge:
        protocol = {**self._protocol_base, "max_attempts": protocol_option(options, "max_attempts", MAX_ATTEMPTS)}
        if "guess_seed" in options:  # only then: the default identity (and judge cache keys) stay as they were
            protocol["guess_seed"] = protocol_option(options, "guess_seed", 0, low=0)
        return load_edit_judge(name, options, protocol, {"max_attempts", "guess_seed"}, OFFICIAL_MODELS,
                               "not GEdit-Bench's GPT-4.1 VIEScore judge; not comparable with published numbers")

    def _judging_source(self, sample: Sample, path: Path) -> tuple[Path, str]:
        srcimg = path.with_name(f"{sample.id}_SRCIMG.png")
        if srcimg.is_file():
            return srcimg, "layout _SRCIMG.png"
        return self._dataset_source(sample), "dataset input_image (no _SRCIMG.png)"

    def judge(self, judge: ProtocolJudge, sample: Sample, index: int, image: Image.Image, path: Path) -> dict[str, Any]:
        source_path, source_from = self._judging_source(sample, path)
        with Image.open(source_path) as raw:
            raw_size = raw.size  # official: the edit is resized to the source as opened (before EXIF transpose)
        source = load_rgb(source_path, exif=True)
        edited = image.convert("RGB").resize(raw_size)
        src_in, edit_in = jpeg_input(source), jpeg_input(edited)
        sc_text = viescore.sc_prompt(sample.prompt)
        answers: list[Answer] = []
        failures: list[str] = []
        guessed: dict[str, int] = {}
        result: tuple[list[float], list[float], str, str] | None = None
        seed = judge.protocol.get("guess_seed")
        for attempt in range(judge.protocol["max_attempts"]):
            got = judge.ask([
                Query(sc_text, (src_in, edit_in), image_first=False, max_tokens=MAX_TOKENS, attempt=attempt),
                Query(viescore.PQ_PROMPT, (edit_in,), image_first=False, max_tokens=MAX_TOKENS, attempt=attempt),
            ])
            answers += got
            sc, pq = (viescore.scores_of(viescore.parse_reply(a.text)) for a in got)
            if seed is not None and attempt >= 1:  # VIEScore's give-up try: guess, as the official code does
                sc, pq = (_guess(seed, sample, index, name, attempt, parsed, answer.text, guessed)
                          for name, parsed, answer in (("SC", sc, got[0]), ("PQ", pq, got[1])))
            if isinstance(sc, str) or isinstance(pq, str):
                failures.append(f"attempt {attempt}: " + "; ".join(
                    f"{name}: {why}" for name, why in (("SC", sc), ("PQ", pq)) if isinstance(why, str)))
                continue
            result = (sc, pq, got[0].text or "", got[1].text or "")
            break
        meta = sample.metadata
        base = {"prompt": sample.prompt, "category": meta["task_type"], "language": meta["language"],
                "intersection": meta["intersection"], "source_from": source_from, "parse_failures": failures,
                "judge": judge_label(judge), "judge_stats": {**stats(answers), "attempts": len(answers) // 2}}
        if result is None:
            # Upstream's give-up try guesses a failed reply without "{...}"; one with it is asked again.
            failed = [a.text for a in answers[-2:] if isinstance(viescore.scores_of(viescore.parse_reply(a.text)), str)]
            would_guess = all(viescore.official_would_guess(text) for text in failed)
            raise UnparseableReplyError(
                f"no parseable SC and PQ replies in {len(answers) // 2} attempt(s) (last: {failures[-1]})",
                {**base, "replies": [a.text for a in answers], "official_would_guess": would_guess})
        sc_scores, pq_scores, sc_reply, pq_reply = result
        sc_value, pq_value = min(sc_scores), min(pq_scores)
        if sc_value * pq_value < 0:  # the official sqrt would raise; never seen in practice
            raise UnparseableReplyError(f"negative score product SC {sc_value} x PQ {pq_value}",
                                        {**base, "replies": [a.text for a in answers]})
        overall = math.sqrt(sc_value * pq_value)
        if seed is not None:
            base["guessed"] = guessed  # which score was VIEScore's random guess, and its value
        return {**base, "sc_scores": sc_scores, "pq_scores": pq_scores, "SC": sc_value, "PQ": pq_value,
                "O": overall, "score": overall, "replies": {"SC": sc_reply, "PQ": pq_reply}}

    def unscored_record(self, sample: Sample, relpath: str | None, reason: str) -> dict[str, Any]:
        meta = sample.metadata
        return {"prompt": sample.prompt, "category": meta["task_type"], "language": meta["language"],
                "intersection": meta["intersection"]}

    def summarize(self, records: list[dict[str, Any]], expected: int) -> dict[str, Any]:
        return summarize(records, self.language, self.spec.categories)

    def report_scoring(self) -> Any:
        """Per image O in its task type; overall = mean over task types (the full set's Average O)."""
        from uno_bench.report.scoring import Scoring

        return Scoring(aggregate="category_means", score_fields=("O",), category_fields=("category",),
                       summary_categories=("categories",), summary_value_keys=("O",))


def _guess(seed: int, sample: Sample, index: int, name: str, attempt: int, parsed: list[float] | str,
           text: str | None, guessed: dict[str, int]) -> list[float] | str:
    """VIEScore's `random.randint(0, 10)` on its give-up try, from a generator seeded by the option's seed
    and the image (not the order images are judged in). Upstream takes the guess branch for every reply
    without "{...}" before trying a bare list or number, so "[5, 9]" is guessed there too; a reply with
    "{...}" it cannot read is asked again instead (here: up to max_attempts)."""
    if not viescore.official_would_guess(text):
        return parsed
    value = random.Random(f"{seed}:{sample.id}:{index}:{name}:{attempt}").randint(0, 10)
    guessed[name] = value
    return [float(value)]


class GEditCNSuite(GEditSuite):
    language = "cn"


def _block(records: list[dict[str, Any]], tasks: tuple[str, ...]) -> dict[str, Any]:
    per_task: dict[str, dict[str, Any]] = {}
    for r in records:
        t = per_task.setdefault(r["category"], {"SC": 0.0, "PQ": 0.0, "O": 0.0, "n": 0})
        for m in ("SC", "PQ", "O"):
            t[m] += r[m]
        t["n"] += 1
    order = [t for t in tasks if t in per_task] + sorted(set(per_task) - set(tasks))
    table = {t: {"SC": per_task[t]["SC"] / per_task[t]["n"], "PQ": per_task[t]["PQ"] / per_task[t]["n"],
                 "O": per_task[t]["O"] / per_task[t]["n"], "n": per_task[t]["n"]} for t in order}
    average = {m: (sum(v[m] for v in table.values()) / len(table) if table else None) for m in ("SC", "PQ", "O")}
    return {"tasks": table, "average": average, "tasks_present": len(table), "images": len(records)}


def summarize(records: list[dict[str, Any]], language: str, tasks: tuple[str, ...] = ()) -> dict[str, Any]:
    scored = [r for r in records if r.get("scored")]
    full = _block(scored, tasks)
    inter = _block([r for r in scored if r.get("intersection")], tasks)
    unparseable = sum("no parseable SC and PQ" in str(r.get("unscored_reason")) for r in records)
    would_guess = sum(1 for r in records if not r.get("scored") and r.get("official_would_guess"))
    guessed = sum(1 for r in scored if r.get("guessed"))
    seeded = any("guessed" in r for r in scored)
    label = language.upper()
    if seeded:
        note = (f"; as the official VIEScore, an unparseable reply on the second try is a seeded random 0-10 "
                f"guess ({guessed} image(s); guess_seed option)")
    else:
        note = (f"; unparseable images are unscored, where the official scorer would have filled "
                f"{would_guess} of them with random.randint(0, 10)")
    return {
        "overall": full["average"]["O"],
        "overall_definition": f"{label} full set: unweighted mean over the task types of the mean per-sample "
                              "O = sqrt(SC x PQ) (calculate_statistics.py 'Average')" + note,
        "language": language,
        "categories": full["tasks"],
        "full_set": full,
        "intersection": inter,
        "headline": {f"{label} G_SC": full["average"]["SC"], f"{label} G_PQ": full["average"]["PQ"],
                     f"{label} G_O": full["average"]["O"], f"{label} G_O (Intersection)": inter["average"]["O"],
                     "random guesses": (f"{guessed} image(s) scored by a seeded random guess, as VIEScore does"
                                        if seeded else f"none; {would_guess} image(s) the official scorer would "
                                        "have scored by random.randint(0, 10) are unscored")},
        "tasks_expected": len(tasks),
        "images": {"judged": len(scored), "unparseable": unparseable, "official_would_guess": would_guess,
                   "guessed": guessed,
                   "source_from_dataset": sum(1 for r in scored if str(r.get("source_from", "")).startswith("dataset"))},
        "judge": judge_summary(records),
        "judge_stats": stats_total(records),
    }
