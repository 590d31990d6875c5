"""Small local fixtures of the editing benchmarks' data, in the official formats (never the real data).

GEdit-Bench: rows with the dataset's columns whose image cells are the `datasets` Image struct
({"bytes": <encoded image>, "path": None}, what pyarrow's to_pylist() gives for the HF parquet), written
through the same unpacker the fetch uses. ImgEdit: basic_edit.json / prompts.json shaped like the real
files (prompts from the real file when available) plus singleturn/ images. KRIS-Bench: final_data.json
records in BAGEL's consolidated format plus KRIS_Bench/<category>/ images.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import torch
from PIL import Image

from uno_bench.suites.edit_data import write_gedit_rows


def single_thread():
    """Context manager: one torch thread (a tiny model on 2 shared cores is far faster single-threaded)."""
    from contextlib import contextmanager

    @contextmanager
    def _ctx():
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    return _ctx()


def encoded(color: tuple[int, int, int], size: tuple[int, int] = (24, 16), fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format=fmt)
    return buffer.getvalue()


# GEdit rows: (task_type, key, language, intersection, instruction, colour of the source image)
GEDIT_ROWS = [
    ("background_change", "a1b2c3d4e5f60718293a4b5c6d7e8f90", "en", True, "Change the sky to night", (200, 30, 30)),
    ("background_change", "0f0e0d0c0b0a09080706050403020100", "en", False, "Put it on a beach", (30, 200, 30)),
    ("color_alter", "1111aaaa2222bbbb3333cccc4444dddd", "en", True, "Make the car blue", (30, 30, 200)),
    ("color_alter", "5555eeee6666ffff7777000088889999", "en", False, "Paint the wall green", (200, 200, 30)),
    ("background_change", "a1b2c3d4e5f60718293a4b5c6d7e8f90", "cn", True, "把天空换成夜晚", (200, 30, 30)),
    ("color_alter", "1111aaaa2222bbbb3333cccc4444dddd", "cn", False, "把车改成蓝色", (30, 30, 200)),
]


def gedit_rows() -> list[dict]:
    """The fixture rows as the HF dataset's columns: image cells are the `datasets` Image struct (one source
    is a JPEG)."""
    rows = []
    for i, (task, key, lang, inter, instruction, color) in enumerate(GEDIT_ROWS):
        fmt = "JPEG" if i == 3 else "PNG"
        rows.append({"task_type": task, "key": key, "instruction": instruction, "instruction_language": lang,
                     "Intersection_exist": inter,
                     "input_image": {"bytes": encoded(color, fmt=fmt), "path": None},
                     "input_image_raw": {"bytes": encoded(color, (48, 32)), "path": None}})
    return rows


GEDIT_SOURCE = {"repository": "stepfun-ai/GEdit-Bench", "revision": "fixture",
                "files": {"data/train-00000-of-00001.parquet": {"sha256": "0" * 64}}}


def gedit_dataset(data_dir: Path) -> Path:
    """<data_dir>/gedit_bench/ unpacked from the fixture rows by the fetch's own writer."""
    folder = data_dir / "gedit_bench"
    write_gedit_rows(folder, gedit_rows(), GEDIT_SOURCE)
    return folder


# ImgEdit: key -> (source path under singleturn/, edit type, instruction, source colour)
IMGEDIT_ITEMS = {
    "1": ("animal/000000001.jpg", "add", "Add a hat to the cat", (200, 30, 30)),
    "2": ("animal/000000002.jpg", "add", "Add a red ball", (30, 200, 30)),
    "3": ("style/000000003.png", "style", "Turn it into a watercolor painting", (30, 30, 200)),
    "4": ("human/000000004.jpg", "remove", "Remove the man", (200, 200, 30)),
    "5": ("human/000000005.jpg", "remove", "Remove the bag", (200, 30, 200)),
}


def imgedit_dataset(data_dir: Path, shared_suites: Path) -> Path:
    """<data_dir>/imgedit/: the real (pinned) judge templates, fixture source images; returns the fixture
    basic_edit.json, passed as --prompts-file (the real one is pinned by its sha256)."""
    folder = data_dir / "imgedit"
    (folder / "Basic").mkdir(parents=True, exist_ok=True)
    shutil.copy(shared_suites / "imgedit/Basic/prompts.json", folder / "Basic" / "prompts.json")
    for src, _, _, color in IMGEDIT_ITEMS.values():
        path = folder / "singleturn" / src
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encoded(color, fmt="PNG" if src.endswith(".png") else "JPEG"))
    basic = {k: {"id": src, "prompt": p, "edit_type": t} for k, (src, t, p, _) in IMGEDIT_ITEMS.items()}
    prompts_file = data_dir / "fixture_basic_edit.json"
    prompts_file.write_text(json.dumps(basic, indent=4))
    return prompts_file


# KRIS: (category, id, ori_img, gt_img, instruction, explanation)
KRIS_ITEMS = [
    ("count_change", "1", "1.jpg", "", "Add one more apple", ""),
    ("color_change", "1", "1.png", "", "Make the car red", ""),
    ("viewpoint_change", "1", "1.jpg", "1_gt.jpg", "Show the chair from the top", ""),
    ("chemistry", "1", "1.jpg", "", "Add MnO2 to the beaker", "Oxygen bubbles form."),
    ("chemistry", "2", "2.jpg", "", "Burn the paper", "The paper turns to ash."),
    ("multi-element_composition", "1", ["1-1.jpg", "1-2.jpg", "1-3.jpg"], "", "Put the cat from image 2 on the sofa", ""),
    ("temporal_prediction", "1", ["1-1.jpg", "1-2.jpg", "1-4.jpg"], "1-3.jpg", "Predict frame 3", ""),
]


def kris_dataset(data_dir: Path) -> Path:
    """<data_dir>/kris_bench/KRIS_Bench/<category>/ images; returns the fixture annotations (BAGEL's
    final_data.json format), passed as --prompts-file (the real file is pinned by its sha256)."""
    folder = data_dir / "kris_bench"
    records = []
    color = 20
    for category, id_, ori, gt, instruction, explain in KRIS_ITEMS:
        files = ori if isinstance(ori, list) else [ori]
        for name in files + ([gt] if gt else []):
            path = folder / "KRIS_Bench" / category / name
            path.parent.mkdir(parents=True, exist_ok=True)
            color += 23
            path.write_bytes(encoded((color % 256, 90, 160), fmt="PNG" if name.endswith(".png") else "JPEG"))
        records.append({"id": id_, "type": category, "ori_img": ori, "gt_img": gt, "ins_en": instruction,
                        "explain_en": explain})
    prompts_file = data_dir / "fixture_final_data.json"
    prompts_file.write_text(json.dumps(records, indent=2, ensure_ascii=False))
    return prompts_file
