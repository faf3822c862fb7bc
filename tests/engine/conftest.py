"""Shared fixtures for the engine tests."""

from __future__ import annotations

import pytest
from engine_helpers import make_artifact


@pytest.fixture(scope="session")
def small_artifact(tmp_path_factory):
    """A one-layer, 24-unit model over 20 symbols with a 16-step window."""
    folder, _, _ = make_artifact(tmp_path_factory.mktemp("small_model"))
    return folder
