"""Model registry (names, bagel default, not-yet-available models) and the folder adapter."""

from __future__ import annotations

import pytest
from PIL import Image

from uno_bench.errors import UnoError
from uno_bench.models.adapter import GenerationRequest, ModelAdapter
from uno_bench.models.folder import FolderAdapter
from uno_bench.models.registry import MODELS, load_model, resolve_model_name
from uno_bench.models.settings import SamplerSettings


def test_names_and_the_bagel_default():
    assert {"bagel", "folder", "shapes-oracle"} <= set(MODELS.names())
    assert resolve_model_name(None, "tiny") == "bagel"
    assert resolve_model_name(None, "/ckpts/BAGEL-7B-MoT") == "bagel"
    assert resolve_model_name("oracle", None) == "shapes-oracle"
    with pytest.raises(UnoError, match="--ckpt DIR"):
        resolve_model_name(None, None)
    with pytest.raises(UnoError, match="did you mean 'folder'"):
        resolve_model_name("folderr", None)


def test_a_registered_model_without_code_gives_a_clear_error(monkeypatch):
    import importlib.util

    if importlib.util.find_spec("uno_bench.models.bagel") is not None:
        pytest.skip("the BAGEL adapter is installed here")
    with pytest.raises(UnoError, match="model 'bagel' is registered but not available"):
        load_model(None, "tiny", SamplerSettings())


def _req(key: str) -> GenerationRequest:
    return GenerationRequest(prompt="p", seed=1, width=8, height=8, key=key)


def test_folder_adapter_reads_by_layout_key(tmp_path):
    (tmp_path / "00000/samples").mkdir(parents=True)
    Image.new("RGB", (8, 8), "red").save(tmp_path / "00000/samples/0000.png")
    adapter = load_model("folder", str(tmp_path), SamplerSettings())
    assert isinstance(adapter, FolderAdapter) and isinstance(adapter, ModelAdapter)
    [image] = adapter.generate([_req("00000/samples/0000.png")])
    assert image.getpixel((3, 3)) == (255, 0, 0)
    assert adapter.identity() == {"name": "folder", "root": str(tmp_path.resolve())}
    with pytest.raises(UnoError, match="not found"):
        adapter.generate([_req("00000/samples/0001.png")])
    with pytest.raises(UnoError, match="inside"):
        adapter.generate([_req("../outside.png")])
    (tmp_path / "00000/samples/0002.png").write_bytes(b"\x89PNG\r\n\x1a\n trunc")
    with pytest.raises(UnoError, match="not a readable image"):
        adapter.generate([_req("00000/samples/0002.png")])
    with pytest.raises(UnoError, match="does not exist"):
        load_model("folder", str(tmp_path / "nope"), SamplerSettings())
