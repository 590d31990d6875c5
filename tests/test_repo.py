"""The README's two fresh-machine commands stay in sync with CI."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _bash_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_ci_runs_the_readme_test_command_verbatim():
    blocks = _bash_blocks((REPO / "README.md").read_text())
    test_command = next(b for b in blocks if "pytest" in b)
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert test_command in ci


def test_test_files_have_unique_names_and_one_conftest():
    # pytest's default import mode puts each test folder on sys.path: equal basenames collide, and a
    # conftest.py in a subfolder would shadow tests/conftest.py for `from conftest import ...`.
    files = list((REPO / "tests").rglob("*.py"))
    names = [p.name for p in files if p.name.startswith("test_")]
    assert len(names) == len(set(names))
    assert [p.relative_to(REPO).as_posix() for p in files if p.name == "conftest.py"] == ["tests/conftest.py"]
