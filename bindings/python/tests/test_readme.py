"""The README's Python section runs as written: every ```python block between the
<!-- python-section --> markers is extracted from README.md and run against the installed package.
A block that defines ``test_`` functions is a pytest file (run with pytest, where the plugin
comes from its entry point); any other block is a script, and a ```text block right after it is
its exact expected output."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import List, Optional, Tuple

import pytest

README = Path(__file__).resolve().parents[3] / "README.md"


def _blocks() -> List[Tuple[str, Optional[str]]]:
    text = README.read_text()
    start, end = text.index("<!-- python-section -->"), text.index("<!-- /python-section -->")
    section = text[start:end]
    fences = re.findall(r"```(\w*)\n(.*?)```", section, flags=re.S)
    out: List[Tuple[str, Optional[str]]] = []
    for i, (lang, body) in enumerate(fences):
        if lang != "python":
            continue
        expected = fences[i + 1][1] if i + 1 < len(fences) and fences[i + 1][0] == "text" else None
        out.append((body, expected))
    return out


BLOCKS = _blocks()


def test_the_section_has_the_promised_examples() -> None:
    assert len(BLOCKS) >= 3
    assert any('"reverse"' in b and "print(" in b for b, _ in BLOCKS)
    assert any("submit(" in b and ".result(" in b for b, _ in BLOCKS)  # fan-out and gather
    assert any("def test_" in b for b, _ in BLOCKS)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs_as_written(index: int, pytester: pytest.Pytester) -> None:
    code, expected = BLOCKS[index]
    if "def test_" in code:
        pytester.makepyfile(test_readme_example=code)
        result = pytester.runpytest_subprocess("-q", timeout=120)
        outcomes = result.parseoutcomes()
        assert outcomes.get("passed", 0) >= 1 and set(outcomes) <= {"passed", "warnings"}, result.stdout.str()
        return
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=str(pytester.path))
    assert proc.returncode == 0, proc.stderr
    if expected is not None:
        assert proc.stdout == expected
