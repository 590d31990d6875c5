"""The bagel adapter's options: `compile` is a launch detail, outside the model identity."""

from __future__ import annotations

import pytest

from uno_bench.errors import UnoError
from uno_bench.models.bagel.adapter import load_adapter


def test_compile_option_is_not_part_of_the_identity(tiny_ckpt):
    plain = load_adapter(str(tiny_ckpt), device="cpu")
    compiled = load_adapter(str(tiny_ckpt), device="cpu", compile="default")
    assert (plain.compile, compiled.compile) == ("off", "default")
    assert plain.identity() == compiled.identity()


def test_compile_option_is_checked(tiny_ckpt):
    with pytest.raises(UnoError, match="unknown compile mode"):
        load_adapter(str(tiny_ckpt), device="cpu", compile="fast")
    with pytest.raises(UnoError, match="needs a CUDA device"):
        load_adapter(str(tiny_ckpt), device="cpu", compile="cudagraphs")
