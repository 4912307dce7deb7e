"""The web tests' shared demo: one in-process sim + feed + scanner + dashboard for the whole folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from webdemo import LiveDemo, start_demo, stop_demo


@pytest.fixture(scope="session")
def live() -> Iterator[LiveDemo]:
    demo, thread = start_demo()
    try:
        yield demo
    finally:
        stop_demo(demo, thread)
