"""The README's quickstart runs as written, offline."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def python_block(heading: str) -> str:
    text = README.read_text()
    match = re.search(rf"## {heading}\n.*?```python\n(.*?)```", text, re.S)
    assert match, f"no python block under '## {heading}'"
    return match.group(1)


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


def test_readme_commands_match_ci() -> None:
    """The README's test command is the one .ci/run runs."""
    text = README.read_text()
    commands = [line for line in text.splitlines() if line.startswith("python3 -m venv .venv")]
    assert len(commands) == 2
    ci = (README.parent / ".ci" / "run").read_text()
    test_command = next(c for c in commands if "pytest" in c)
    assert test_command in ci
    assert any("itniotech demo" in c for c in commands)
