"""`uno-train ablate` with an editing suite: every arm is evaluated on shapes-edit through the harness's edit
path and the ablation table has its per-kind columns."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

from edit_fixtures import single_thread

from uno_train.ablate import ablate
from uno_train.post_train import default_train_config


def test_ablation_table_includes_editing(tiny_ckpt, tmp_path):
    out = tmp_path / "abl"
    train = replace(default_train_config(1, 0), batch_size=2)
    with single_thread():
        manifest = ablate(str(tiny_ckpt), [("captioning",)], ["shapes", "shapes-edit"], 1, out, train,
                          eval_limit=4, sampler={"num_timesteps": 3}, log=lambda *a: None).manifest
    runs = manifest["arms"]["captioning"]["seeds"]["0"]["runs"]
    assert runs["shapes-edit"]["summary"]["coverage"]["scored"] == 4
    assert set(runs["shapes-edit"]["summary"]["results"]["categories"]) == {"recolor", "add", "remove", "move"}
    table = (out / "table.md").read_text()
    assert "Shapes edits" in table and "control (baseline)" in table
    rows = list(csv.DictReader((out / "table.csv").open()))
    edit_rows = [r for r in rows if r.get("suite") == "shapes-edit"]
    assert {r["row"] for r in edit_rows} == {"control", "captioning"}
    assert json.loads((out / "arms.json").read_text())["suites"] == ["shapes", "shapes-edit"]
