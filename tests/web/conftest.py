"""The web tests' shared demo: one in-process sim + feed + scanner + dashboard for the whole folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from webdemo import LiveDemo, start_demo, stop_demo, write_report


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveDemo]:
    demo, thread = start_demo(report=write_report(tmp_path_factory.mktemp("backtest") / "report.json"))
    try:
        yield demo
    finally:
        stop_demo(demo, thread)
