"""Fixtures of the tests that start real Prometheus and Alertmanager binaries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.alerting import Stack


@pytest.fixture
def one_stack(tmp_path: Path) -> Iterator[Stack]:
    """One real Prometheus and Alertmanager for a test, stopped whatever happens."""
    # The secrets of a config whose state_dir is tmp_path/state (as the tests
    # write them): a responder of the test reaches this Alertmanager.
    stack = Stack(tmp_path / "stack", 1, 1, secrets=tmp_path / "state" / "secrets")
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
