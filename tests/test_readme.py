"""The README's code runs as written, offline, and type-checks under ``mypy --strict``."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
EXAMPLES = ROOT / "examples"


def python_block(heading: str) -> str:
    text = README.read_text()
    match = re.search(rf"## {heading}\n.*?```python\n(.*?)```", text, re.S)
    assert match, f"no python block under '## {heading}'"
    return match.group(1)


def python_blocks() -> list[tuple[int, str]]:
    """Every ```python block of the README, with the line it starts on."""
    text = README.read_text()
    return [
        (text.count("\n", 0, m.start()) + 2, m.group(1))
        for m in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M)
    ]


def test_quickstart_runs() -> None:
    """The quickstart block starts the fake on loopback and prints a page total."""
    result = subprocess.run(
        [sys.executable, "-c", python_block("Quickstart")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "phone calls in the last week" in result.stdout


def test_readme_programs_run(tmp_path: Path) -> None:
    """Every README block that is a whole program (it calls anyio.run) runs offline.

    They run in a temporary folder: a program that writes a file (the archive's
    ``calls.db``) must not leave it in the checkout.
    """
    programs = [(line, code) for line, code in python_blocks() if "\nanyio.run(" in code]
    assert len(programs) >= 2
    for line, code in programs:
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=tmp_path,
        )
        assert result.returncode == 0, f"README.md:{line}: {result.stderr}"


def test_readme_pytest_example_passes(pytester: pytest.Pytester) -> None:
    """The README's conftest.py and test file pass under pytest, on asyncio and trio."""
    files = {}
    for _, code in python_blocks():
        first = code.split("\n", 1)[0]
        if first in ("# conftest.py", "# test_calls.py"):
            files[first[2:]] = code
    assert sorted(files) == ["conftest.py", "test_calls.py"]
    for name, code in files.items():
        (pytester.path / name).write_text(code)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=4)


def test_readme_and_examples_pass_mypy_strict(tmp_path: Path) -> None:
    """Each README python block, as its own module, and examples/ pass mypy --strict."""
    blocks = python_blocks()
    assert len(blocks) >= 5
    for line, code in blocks:
        (tmp_path / f"readme_line_{line}.py").write_text(code)
    examples = sorted(EXAMPLES.glob("*.py"))
    assert len(examples) >= 4
    for path in examples:
        shutil.copy(path, tmp_path / path.name)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--python-version", "3.10", "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # Point at README lines: block at line L, its line n, is README line L + n - 1.
    report = re.sub(
        r"readme_line_(\d+)\.py:(\d+)",
        lambda m: f"README.md:{int(m.group(1)) + int(m.group(2)) - 1}",
        result.stdout,
    )
    assert result.returncode == 0, report


def test_readme_commands_match_ci() -> None:
    """The README's test command is the one .ci/run runs."""
    text = README.read_text()
    two = text[text.index("## Two commands") : text.index("## Install")]
    commands = [line for line in two.splitlines() if line.startswith("python3 -m venv .venv")]
    assert len(commands) == 2
    ci = (README.parent / ".ci" / "run").read_text()
    test_command = next(c for c in commands if "pytest" in c)
    assert test_command in ci
    assert any("itniotech demo" in c for c in commands)
