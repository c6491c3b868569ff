"""Fixtures of the evaluation tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from eval_helpers import write_config


@pytest.fixture
def tiny_config(tmp_path: Path) -> Path:
    """A 2-sequence (phantom cine + markers) x 2-method x 2-horizon x 2-mode x 2-seed config."""
    return write_config(tmp_path)
