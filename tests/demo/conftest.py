"""Fixtures for the demo app's tests: a fresh app (own close log, own registry) per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from demo_app.app import create_app


@pytest.fixture
def demo() -> FastAPI:
    """A fresh demo app: nothing recorded yet."""
    return create_app()


@pytest.fixture
def client(demo: FastAPI) -> Iterator[TestClient]:
    """A TestClient on :func:`demo`; exceptions the app raises reach the test."""
    with TestClient(demo) as test_client:
        yield test_client
