"""Training data sources: pure functions of (seed, index); re-captions travel with T2I examples."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from uno_bench.errors import UnoError
from uno_train.data import BadRecord, CaptionFolderSource, ShapesSource
from uno_train.plans import TextItem, VaeItem, VitItem


def test_shapes_examples_are_deterministic_and_well_formed():
    src = ShapesSource(seed=4, image_size=64)
    a, b = src.example(17), src.example(17)
    assert a.kind == b.kind and [type(i) for i in a.items] == [type(i) for i in b.items]
    img_a = next(i.image for i in a.items if isinstance(i, (VaeItem, VitItem)))
    img_b = next(i.image for i in b.items if isinstance(i, (VaeItem, VitItem)))
    assert np.array_equal(np.asarray(img_a), np.asarray(img_b)) and img_a.size == (64, 64)
    kinds = {src.example(i).kind for i in range(40)}
    assert kinds == {"t2i", "caption"}
    words = set(src.words())
    for i in range(40):
        ex = src.example(i)
        for item in ex.items:
            if isinstance(item, TextItem):
                assert set(item.text.split()) <= words  # the closed vocabulary covers every text
        if ex.kind == "t2i":
            assert ex.meta["captions"] and ex.items[0].enable_cfg


def test_caption_folder_epochs_and_captions(tmp_path):
    for name in ("a", "b"):
        Image.new("RGB", (16, 16), (10, 20, 30)).save(tmp_path / f"{name}.png")
    lines = [{"image": "a.png", "captions": ["one", "two"], "prompt": "p"}, {"image": "b.png", "caption": "three"}]
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(x) for x in lines))
    src = CaptionFolderSource(tmp_path / "d.jsonl", seed=1, t2i_fraction=1.0, image_size=32)
    seen = [src.example(i).meta["captions"] for i in range(2)]
    assert sorted(map(tuple, seen)) == [("one", "two"), ("three",)]  # each record once per epoch
    ex = src.example(0)
    assert ex.items[1].image.size == (32, 32)
    assert [src.example(i).meta for i in range(4)] == [src.example(i).meta for i in range(4)]
    with pytest.raises(UnoError, match="not found"):
        CaptionFolderSource(tmp_path / "nope.jsonl")
    (tmp_path / "bad.jsonl").write_text('{"image": "missing.png", "captions": ["x"]}\n')
    with pytest.raises(BadRecord, match="unreadable"):
        CaptionFolderSource(tmp_path / "bad.jsonl").example(0)


def test_shapes_edit_examples_use_bagels_edit_layout():
    src = ShapesSource(seed=9, image_size=64, t2i_fraction=0.0, edit_fraction=1.0)
    ex = src.example(3)
    assert ex.kind == "edit"
    kinds = [type(i).__name__ for i in ex.items]
    assert kinds == ["VaeItem", "VitItem", "TextItem", "VaeItem"]
    assert not ex.items[0].noisy and ex.items[3].noisy and all(i.enable_cfg for i in ex.items[:3])
    assert set(ex.items[2].text.split()) <= set(src.words())
    assert "remove" in src.words() and "remove" not in ShapesSource().words()
