"""DPG-Bench (TencentQQGYLab/ELLA `dpg_bench/` @ 3c228f1; docs/judges.md): dense prompts,
DSG yes/no questions with dependencies, answered per tile of a 2x2 grid.

Data: prompts from prompts_index.jsonl (the 1,065 prompt files), questions from dpg_bench.csv
(columns item_id, text, keywords, proposition_id, dependency, category_broad, category_detailed,
tuple, question_natural_language; every field read as text, `dependency` split on "," and each
part parsed as an integer, 0 = no parent). `--prompts-file` replaces dpg_bench.csv with a file in
the same format (fixtures, a corrected CSV); items missing from the prompt index take the CSV's
`text` column as prompt. Samples are the CSV's items in order of first appearance.

Layout: generation draws 4 R x R images per item into `tiles/<item_id>/<j>.png`; the suite then
writes the official file `<item_id>.png`, a 2R x 2R grid with tiles top-left, top-right,
bottom-left, bottom-right (1 image per item: the grid is that image). Image j is judged on the crop
(R*(j%2), R*(j//2), +R, +R) of the grid file, as the scorer crops it; R is `resolution=` if given,
else the size of the generated tile, else half the grid width (a square 2R x 2R grid).

Official aggregation (default, reproduced exactly, ELLA issues #60/#61):
  - the first CSV data row is skipped; an item's question set is its last contiguous run of rows;
  - a question scores 1 only when the answer is exactly "yes";
  - per tile, questions are walked in CSV row order; for each, parents are checked in listed order:
    0 is skipped, a missing parent makes the whole image fail, a parent scored 0 zeroes the
    question (and stops the check); tile score = mean, image score = mean over the tiles;
  - failed images are dropped from the mean (counted here, never silently);
  - L1/L2 category scores pool the *last* tile's answers *before* zeroing, over scored images;
  - DPG-Bench score = 100 x mean image score;
  - every file of the folder whose name up to its first "." is an item id is an image of that item
    (x.png and x.copy.png are two images of x, both in the mean): when `<item_id>.png` is judged, the
    same tile of each such file is judged too (`same_key_files` in the record); unreadable ones are
    skipped, as the scorer skips them.
The `fixed` variant is computed beside it, labelled: every CSV row counts, dependencies zero
transitively whatever the row order (a missing parent is ignored and counted), categories use
every tile after zeroing, and `score_dropped_as_zero` counts failed images as 0.

Judges: the official one is `mplug` (mPLUG-large through ModelScope): raw question, exact match.
Any other VQA backend (hf, openai, replay of one) is non-official, labelled so: it gets the question
plus " Answer yes or no." and its reply is lower-cased and stripped of spaces and a final period
before the exact match (protocol options question_suffix=, answer_match=exact|normalized).
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from uno_bench.errors import UnoError
from uno_bench.judges.protocol import ProtocolJudge, stats
from uno_bench.judges.vlm import ImageInput, Query
from uno_bench.runs.atomic import png_complete, write_png
from uno_bench.suites.base import Sample, Suite
from uno_bench.suites.vqa import judge_label, judge_summary, load_vlm_judge, stats_total

PARSER_VERSION = 1
COLUMNS = ("item_id", "text", "keywords", "proposition_id", "dependency", "category_broad",
           "category_detailed", "tuple", "question_natural_language")
VLM_SUFFIX = " Answer yes or no."
PROTOCOL_KEYS = {"question_suffix", "answer_match", "resolution"}
TILE_ORIGINS = ((0, 0), (1, 0), (0, 1), (1, 1))  # in units of R: top-left, top-right, bottom-left, bottom-right


@dataclass(frozen=True)
class Row:
    row: int  # 0-based data row of the CSV (row 0 is the one the official loader skips)
    pid: int
    parents: tuple[int, ...]
    dependency: str
    tuple: str
    question: str
    run: int  # which contiguous run of the item's rows this row belongs to (0 = first)

    @property
    def l2(self) -> str:
        return self.tuple.split("(")[0].strip()


def l1_of(l2: str) -> str:
    return l2.split("-")[0].strip()


def read_questions(path: Path) -> tuple[list[str], dict[str, list[Row]], dict[str, str]]:
    """(item order, rows per item, CSV text per item); every value is read as text."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise UnoError(f"{path}: not a DPG-Bench questions file (missing column(s) {', '.join(missing)})")
        order: list[str] = []
        rows: dict[str, list[Row]] = {}
        texts: dict[str, str] = {}
        runs: dict[str, int] = {}
        previous = None
        for i, raw in enumerate(reader):
            item = raw["item_id"]
            try:
                pid = int(raw["proposition_id"])
                parents = tuple(int(part.strip()) for part in raw["dependency"].split(","))
            except (ValueError, AttributeError):
                raise UnoError(f"{path}: data row {i + 1}: proposition_id and dependency must be integers "
                               f"(got {raw['proposition_id']!r}, {raw['dependency']!r})") from None
            if item not in rows:
                order.append(item)
                rows[item], texts[item], runs[item] = [], raw["text"], 0
            elif previous != item:
                runs[item] += 1
            rows[item].append(Row(i, pid, parents, raw["dependency"], raw["tuple"] or "",
                                  raw["question_natural_language"] or "", runs[item]))
            previous = item
    return order, rows, texts


def official_set(rows: list[Row]) -> dict[int, Row]:
    """The scorer's question dict: last contiguous run, CSV row 0 skipped, a repeated id keeps its first
    position but the last row's content (Python dict semantics)."""
    last = max((r.run for r in rows), default=0)
    out: dict[int, Row] = {}
    for r in rows:
        if r.run == last and r.row != 0:
            out[r.pid] = r
    return out


def fixed_set(rows: list[Row]) -> dict[int, Row]:
    out: dict[int, Row] = {}
    for r in rows:
        out[r.pid] = r
    return out


def official_tile(questions: dict[int, Row], yes: dict[int, bool]) -> tuple[float | None, str | None]:
    """(tile score, failure): the scorer's row-order, first-zero-parent-wins zeroing."""
    if not questions:
        return None, "no questions: the item's only row was the skipped first CSV row"
    scores = {pid: float(yes[pid]) for pid in questions}
    for pid, row in questions.items():
        for parent in row.parents:
            if parent == 0:
                continue
            if parent not in scores:
                return None, f"missing parent: question {pid} depends on {parent}, which the loader does not have"
            if scores[parent] == 0:
                scores[pid] = 0.0
                break
    return sum(scores.values()) / len(scores), None


def fixed_tile(questions: dict[int, Row], yes: dict[int, bool]) -> tuple[dict[int, float], int]:
    """Per-question scores after transitive zeroing (any order), and the number of missing parents."""
    state: dict[int, bool] = {}
    missing = 0

    def ok(pid: int, seen: frozenset[int]) -> bool:
        nonlocal missing
        if pid in state:
            return state[pid]
        good = yes[pid]
        for parent in questions[pid].parents:
            if parent == 0 or parent in seen:
                continue
            if parent not in questions:
                missing += 1
                continue
            good = good and ok(parent, seen | {pid})
        state[pid] = good
        return good

    return {pid: float(ok(pid, frozenset())) for pid in questions}, missing


def _official(backend: dict[str, Any]) -> bool:
    return backend.get("name") == "mplug"


class DPGSuite(Suite):
    def required_data(self, prompts_file: Path | None) -> list[str]:
        keys = super().required_data(prompts_file)
        return [k for k in keys if k != "questions"] if prompts_file is not None else keys

    def load_samples(self, prompts_file: Path | None = None) -> list[Sample]:
        index: dict[str, str] = {}
        for line in self.data_path("prompts_index").read_text(encoding="utf-8").splitlines():
            if line.strip():
                entry = json.loads(line)
                index[entry["item_id"]] = entry["prompt"]
        order, rows, texts = read_questions(prompts_file or self.data_path("questions"))
        return [
            Sample(item, index.get(item, texts[item]), "",
                   {"rows": [asdict(r) for r in rows[item]], "prompt_source": "index" if item in index else "csv"},
                   where=f"questions item {number}")
            for number, item in enumerate(order)
        ]

    def image_relpath(self, sample: Sample, index: int) -> str:
        return f"tiles/{sample.id}/{index}.png"

    def judged_relpath(self, sample: Sample, index: int) -> str:
        return f"{sample.id}.png"

    def assemble(self, sample: Sample, root: Path, relpaths: list[str]) -> None:
        """Write the official grid once every tile exists (a missing tile leaves no grid: its image
        failed to generate and is reported as such)."""
        if len(relpaths) not in (1, 4):
            raise UnoError(f"DPG-Bench grids hold 1 or 4 images per prompt, not {len(relpaths)}")
        grid_path = root / self.judged_relpath(sample, 0)
        if png_complete(grid_path) or not all(png_complete(root / rel) for rel in relpaths):
            return
        tiles = [self.open_image(root / rel).convert("RGB") for rel in relpaths]
        size = tiles[0].size
        if size[0] != size[1] or any(t.size != size for t in tiles):
            raise UnoError(f"DPG-Bench tiles must all be square and equal (R x R), got {[t.size for t in tiles]}: "
                           "generate with --width equal to --height")
        r = size[0]
        if len(tiles) == 1:
            write_png(grid_path, tiles[0])
            return
        grid = Image.new("RGB", (2 * r, 2 * r))
        for tile, (x, y) in zip(tiles, TILE_ORIGINS, strict=True):
            grid.paste(tile, (x * r, y * r))
        write_png(grid_path, grid)

    def load_judge(self, name: str, options: Mapping[str, str]) -> ProtocolJudge:
        def protocol(backend: dict[str, Any]) -> dict[str, Any]:
            official = _official(backend)
            resolution = options.get("resolution")
            if resolution is not None and (not resolution.isdigit() or int(resolution) < 1):
                raise UnoError(f"resolution must be a positive integer (pixels per tile), not {resolution!r}")
            match = options.get("answer_match", "exact" if official else "normalized")
            if match not in ("exact", "normalized"):
                raise UnoError(f"answer_match must be exact or normalized, not {match!r}")
            return {"suite": "dpg_bench", "parser_version": PARSER_VERSION, "answer_match": match,
                    "question_suffix": options.get("question_suffix", "" if official else VLM_SUFFIX),
                    "resolution": int(resolution) if resolution else None}

        judge, _ = load_vlm_judge(name, options, protocol, PROTOCOL_KEYS, _official,
                                  "not DPG-Bench's official VQA judge (mPLUG-large); not comparable with published numbers")
        return judge

    def _resolution(self, judge: ProtocolJudge, sample: Sample, index: int, grid: Image.Image, path: Path) -> int:
        if judge.protocol["resolution"]:
            return judge.protocol["resolution"]
        tile = path.parent / self.image_relpath(sample, index)
        if tile.is_file():
            with Image.open(tile) as img:
                return img.width
        if grid.width != grid.height or grid.width % 2:
            raise UnoError(f"grid is {grid.width}x{grid.height}, not 2R x 2R: pass --judge-option resolution=R")
        return grid.width // 2

    def _same_key_files(self, path: Path, item: str) -> list[Path]:
        """Other files of `path`'s folder whose official key (the name up to its first ".") is `item`:
        the official scorer scores each of them as one more image of that item (e.g. fx13.copy.png)."""
        folder = path.parent
        stamp = (str(folder), folder.stat().st_mtime_ns)
        if getattr(self, "_listing", (None,))[0] != stamp:  # listed once per folder state, not per tile
            by_key: dict[str, list[str]] = defaultdict(list)
            for name in sorted(p.name for p in folder.iterdir() if p.is_file()):
                by_key[name.split(".")[0]].append(name)
            self._listing = (stamp, by_key)
        return [folder / name for name in self._listing[1].get(item, []) if name != path.name]

    def _judge_tile(self, judge: ProtocolJudge, rows: list[Row], tile: Image.Image) -> dict[str, Any]:
        suffix, match = judge.protocol["question_suffix"], judge.protocol["answer_match"]
        answers = judge.ask([Query(row.question + suffix, (ImageInput(tile),), max_tokens=8) for row in rows])
        yes_by_row = {}
        for row, answer in zip(rows, answers, strict=True):
            text = answer.text or ""
            normal = text if match == "exact" else text.strip().lower().rstrip(".!").strip()
            yes_by_row[row.row] = normal == "yes"
        official = official_set(rows)
        score, failure = official_tile(official, {pid: yes_by_row[r.row] for pid, r in official.items()})
        return {"answers": answers, "yes": yes_by_row, "official": official, "score": score, "failure": failure}

    def judge(self, judge: ProtocolJudge, sample: Sample, index: int, image: Image.Image, path: Path) -> dict[str, Any]:
        if index >= len(TILE_ORIGINS):
            raise UnoError(f"DPG-Bench grids hold at most 4 tiles (image {index})")
        r = self._resolution(judge, sample, index, image, path)
        x, y = TILE_ORIGINS[index]
        crop = (x * r, y * r, x * r + r, y * r + r)
        rows = [Row(**row) for row in sample.metadata["rows"]]
        main = self._judge_tile(judge, rows, image.crop(crop))
        answers, yes_by_row, official = main["answers"], main["yes"], main["official"]
        fixed = fixed_set(rows)
        fixed_scores, missing = fixed_tile(fixed, {pid: yes_by_row[r.row] for pid, r in fixed.items()})
        questions = []
        for row, answer in zip(rows, answers, strict=True):
            in_fixed = fixed.get(row.pid) is row
            questions.append({"row": row.row, "pid": row.pid, "category": row.l2, "answer": answer.text,
                              "yes": yes_by_row[row.row], "official": official.get(row.pid) is row,
                              "fixed": in_fixed, "fixed_score": fixed_scores[row.pid] if in_fixed else None})
        # Official: every file whose key is this item is one more image (same crop, same R).
        same_key: dict[str, dict[str, Any]] = {}
        for other in self._same_key_files(path, sample.id):
            try:
                other_image = self.open_image(other).convert("RGB")
            except Exception as exc:  # noqa: BLE001 - upstream prints "Failed <file>" and skips it
                same_key[other.name] = {"skipped": f"not an image ({type(exc).__name__})"}
                continue
            got = self._judge_tile(judge, rows, other_image.crop(crop))
            answers = [*answers, *got["answers"]]
            same_key[other.name] = {
                "score": got["score"], "official_failure": got["failure"],
                "categories": [[row.l2, got["yes"][row.row]] for row in rows if got["official"].get(row.pid) is row]}
        return {
            "prompt": sample.prompt, "tile": index, "crop": list(crop), "resolution": r, "questions": questions,
            "score": main["score"], "official_failure": main["failure"],
            "score_fixed": float(np.mean(list(fixed_scores.values()))) if fixed_scores else None,
            "missing_parents": missing, "same_key_files": same_key,
            "judge": judge_label(judge), "judge_stats": stats(answers),
        }

    def unscored_record(self, sample: Sample, relpath: str | None, reason: str) -> dict[str, Any]:
        return {"prompt": sample.prompt}

    def summarize(self, records: list[dict[str, Any]], expected: int) -> dict[str, Any]:
        return summarize(records)


def _categories(pairs: list[tuple[str, float]]) -> dict[str, Any]:
    l2: dict[str, list[float]] = defaultdict(list)
    l1: dict[str, list[float]] = defaultdict(list)
    for category, value in pairs:
        l2[category].append(value)
        l1[l1_of(category)].append(value)
    return {"l1": {k: 100 * float(np.mean(v)) for k, v in sorted(l1.items())},
            "l2": {k: 100 * float(np.mean(v)) for k, v in sorted(l2.items())}}


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Official and fixed DPG-Bench numbers from tile records (see the module docstring)."""
    tiles: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    for r in records:
        tiles[r["prompt_id"]][int(r["sample_index"])] = r
    per_item = max((len(t) for t in tiles.values()), default=0)
    official_scores, fixed_scores = [], []
    official_pairs: list[tuple[str, float]] = []
    fixed_pairs: list[tuple[str, float]] = []
    dropped: dict[str, int] = defaultdict(int)
    missing_parents = 0
    same_key_scored = same_key_dropped = 0
    for _item, by_tile in tiles.items():
        ordered = [by_tile.get(j) for j in range(per_item)]
        if any(t is None or not t.get("scored") for t in ordered):
            dropped["a tile was not judged (missing image or judge failure)"] += 1
            continue
        fixed_scores.append(float(np.mean([t["score_fixed"] for t in ordered])))
        for t in ordered:
            missing_parents += t.get("missing_parents", 0)
            fixed_pairs += [(q["category"], q["fixed_score"]) for q in t["questions"] if q["fixed"]]
        failure = next((t["official_failure"] for t in ordered if t.get("official_failure")), None)
        if failure:
            dropped[f"official loader quirk, {failure.split(':')[0]}"] += 1
            continue
        official_scores.append(float(np.mean([t["score"] for t in ordered])))
        last = ordered[-1]
        official_pairs += [(q["category"], float(q["yes"])) for q in last["questions"] if q["official"]]
    for _item, by_tile in tiles.items():  # official: more files with the item's key are more images
        ordered = [by_tile.get(j) for j in range(per_item)]
        if any(t is None or not t.get("scored") for t in ordered):
            continue
        for name in sorted(set().union(*[t.get("same_key_files") or {} for t in ordered])):
            views = [(t.get("same_key_files") or {}).get(name) or {} for t in ordered]
            if any("score" not in v for v in views) or any(v.get("official_failure") for v in views):
                same_key_dropped += 1
                continue
            official_scores.append(float(np.mean([v["score"] for v in views])))
            official_pairs += [(category, float(yes)) for category, yes in views[-1]["categories"]]
            same_key_scored += 1
    items = len(tiles)
    official = {
        "score": 100 * float(np.mean(official_scores)) if official_scores else None,
        "items_scored": len(official_scores),
        "items_dropped": sum(dropped.values()),
        "dropped_reasons": dict(sorted(dropped.items())),
        "same_key_files": {"scored": same_key_scored, "skipped": same_key_dropped},
        **_categories(official_pairs),
        "label": "official (ELLA compute_dpg_bench.py): first CSV row skipped, failed images dropped, "
                 "categories from the last tile before dependency zeroing, every file whose name up to its "
                 "first '.' is an item id scored as one more image (e.g. x.png and x.copy.png)",
    }
    fixed = {
        "score": 100 * float(np.mean(fixed_scores)) if fixed_scores else None,
        "score_dropped_as_zero": 100 * float(np.sum(fixed_scores)) / items if items else None,
        "items_scored": len(fixed_scores),
        "missing_parents": missing_parents,
        **_categories(fixed_pairs),
        "label": "fixed (harness): every CSV row, transitive zeroing, categories over all tiles after "
                 "zeroing, one image per item (<item_id>.png); not comparable with published numbers",
    }
    return {
        "overall": official["score"],
        "categories": official["l1"],
        "official": official,
        "fixed": fixed,
        "items": items,
        "tiles_per_item": per_item,
        "judge": judge_summary(records),
        "judge_stats": stats_total(records),
    }

