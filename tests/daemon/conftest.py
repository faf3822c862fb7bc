"""Fixtures for the daemon tests (the helpers they use are in ``daemon_helpers.py``)."""

from __future__ import annotations

import pytest
from daemon_helpers import make_daemon_artifact

from antiphon.engine.model import LstmModel


@pytest.fixture(scope="session")
def daemon_artifact(tmp_path_factory):
    return make_daemon_artifact(tmp_path_factory.mktemp("daemon_model"))


@pytest.fixture(scope="session")
def daemon_model(daemon_artifact):
    return LstmModel.load(daemon_artifact)
