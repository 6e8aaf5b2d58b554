"""The code base stays ruff-clean (lint and format), checked as part of the test run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ["llmgw", "tests", "benchmarks", "examples"]


def ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, *TARGETS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_ruff_check() -> None:
    out = ruff("check", "--no-cache")
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_format() -> None:
    out = ruff("format", "--check", "--no-cache")
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy() -> None:
    """Type hints hold (configuration in pyproject.toml: strict for the pure wings)."""
    out = subprocess.run(
        [sys.executable, "-m", "mypy"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout + out.stderr
