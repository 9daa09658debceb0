"""Fixtures of the report tests."""

from __future__ import annotations

import pytest

from _report_synthetic import make_synthetic_results


@pytest.fixture(scope="session")
def results() -> dict:
    """A validated results dict built from simulated predictions (see ``_report_synthetic``)."""
    return make_synthetic_results()
