"""Fixtures for the SDK tests; helpers live in sdk_support.py."""

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def vector_body() -> bytes:
    """The 1028-byte signed notification from notifications.md §4."""
    return (FIXTURES / "notification_vector.json").read_bytes()
