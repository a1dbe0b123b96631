"""Shared fixtures and the Hypothesis profiles for the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

#: The repository root (this file is ``<root>/tests/conftest.py``).
REPO_ROOT = Path(__file__).resolve().parents[1]

#: Real market data shared next to the repository, not committed to it.
REAL_DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "real"

# No deadline: the first call of a test can pay for imports and caches, and a slow CI box
# should not turn that into a flaky failure. CI runs more examples than a local run.
settings.register_profile("ci", max_examples=200, deadline=None)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """Folder of real market data (``../shared/data/real``); skips the test when it is absent."""
    if not REAL_DATA_DIR.is_dir():
        # The project's rule for ../shared data: CI always has it; a clone without it skips, saying why.
        pytest.skip(f"real data not available: {REAL_DATA_DIR} missing")
    return REAL_DATA_DIR
