"""Chromium (Debian's, driven by Playwright) against the live demo: rows appear and change without a reload, the
table sorts and filters, FUERTE/ALTA rows are colored, the live precision panel shows the backtest's figures, a
pair page draws its charts and keeps updating."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from webdemo import LiveDemo

CHROMIUM = "/usr/bin/chromium"
WAIT_MS = 20_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
                              headless=True, args=["--no-sandbox", "--disable-gpu"])  # fmt: skip
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert errors == [], errors  # no JavaScript error on any page


def test_dashboard_rows_appear_and_change_live_then_a_pair_page(page: Page, live: LiveDemo, tmp_path: Path) -> None:
    page.goto(live.url + "/")
    rows = page.locator("#opportunities tbody tr")
    expect(rows.first).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#ws-state")).to_have_attribute("data-state", "live", timeout=WAIT_MS)
    page.evaluate("window.__noReload = 'still here'")
    first_row = rows.first.element_handle()
    before = page.evaluate("() => ({...window.csTable})")
    texts = rows.all_inner_texts()

    # Rows change in place: more upserts arrive, the page is never reloaded, the DOM rows are patched (a <tr>
    # present before is still the same element) and no full redraw ever happens (rows created <= rows seen).
    page.wait_for_function("n => window.csTable.upserts > n + 5", arg=before["upserts"], timeout=WAIT_MS)
    page.wait_for_function("texts => Array.from(document.querySelectorAll('#opportunities tbody tr'))"
                           ".some((tr, i) => tr.innerText !== texts[i])", arg=texts, timeout=WAIT_MS)  # fmt: skip
    after = page.evaluate("() => ({...window.csTable})")
    assert page.evaluate("window.__noReload") == "still here" and after["snapshots"] == 1
    assert first_row is not None and first_row.evaluate("tr => tr.isConnected || tr.dataset.key") is not None
    assert after["created"] < after["upserts"]  # most updates patched an existing row

    # Colors: FUERTE green (#90EE90), ALTA amber (#FFE4B5)
    fuerte = page.locator("tr.lvl-FUERTE").first
    expect(fuerte).to_be_visible(timeout=WAIT_MS)
    assert fuerte.evaluate("tr => getComputedStyle(tr).backgroundColor") == "rgb(144, 238, 144)"
    alta = page.locator("tr.lvl-ALTA").first
    expect(alta).to_be_visible(timeout=WAIT_MS)
    assert alta.evaluate("tr => getComputedStyle(tr).backgroundColor") == "rgb(255, 228, 181)"

    # The status bar: the feed's connections, pairs, rate, lag; the dashboard's clients
    expect(page.locator("#st-connections")).to_contain_text("CONNECTED", timeout=WAIT_MS)
    expect(page.locator("#st-pairs")).to_have_text("futures 4, spot 14", timeout=WAIT_MS)
    expect(page.locator("#st-dropped")).not_to_have_text("-", timeout=WAIT_MS)

    # The live precision panel under the status bar: FUERTE and ALTA at 4 h and 24 h, live 7 d | 30 d | backtest
    panel = page.locator("#tracking-table")
    assert page.evaluate("document.getElementById('status').nextElementSibling.id") == "tracking"
    expect(panel.locator("caption")).to_contain_text("Live precision")
    expect(panel.locator("tr[data-level=FUERTE] td[data-h='4'][data-kind=backtest]")).to_have_text("31 %")
    expect(panel.locator("tr[data-level=ALTA] td[data-h='24'][data-kind=backtest]")).to_have_text("35 %")
    cells = panel.locator("td[data-kind^=live]").all_inner_texts()
    assert len(cells) >= 8 and all(re.fullmatch(r"-|\d+ % \(\d+/\d+\)", c) for c in cells), cells
    expect(page.locator("#tracking-counts")).to_contain_text(re.compile(r"pending: \d+ · not tracked: \d+"))

    # Sorting by symbol (client side), then filtering by text
    page.click("th[data-sort=symbol]")
    symbols = page.locator("#opportunities tbody tr:not([hidden]) td[data-col=symbol]").all_inner_texts()
    assert symbols == sorted(symbols) and len(symbols) >= 3
    wanted = symbols[0]
    page.fill("#filter", wanted[:4])
    visible = page.locator("#opportunities tbody tr:not([hidden]) td[data-col=symbol]")
    expect(visible.first).to_have_text(wanted)
    assert all(s.startswith(wanted[:4]) or wanted[:4] in s for s in visible.all_inner_texts())
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    page.fill("#filter", "")

    # A pair page: charts (plotly.js served locally), breakdown, alerts; updated live
    link = page.locator("#opportunities tbody tr[data-level=FUERTE] td[data-col=symbol] a").first
    symbol = link.inner_text()
    link.click()
    page.wait_for_url(f"**/pairs/*/{symbol}")
    page.wait_for_function("() => window.csPair && window.csPair.plotted >= 1", timeout=WAIT_MS)
    expect(page.locator("#chart .main-svg").first).to_be_attached()
    assert page.locator("#chart .candlestick, #chart .trace.boxes").count() >= 1
    expect(page.locator("#components tbody tr")).to_have_count(5)
    expect(page.locator("#pair-level")).to_have_text(re.compile("^(FUERTE|ALTA|MEDIA|BAJA|DESCARTADA)$"),
                                                      timeout=WAIT_MS)  # fmt: skip
    bars = page.evaluate("window.csPair.bars")
    assert bars > 100
    frames = page.evaluate("window.csPair.frames")
    page.wait_for_function("n => window.csPair.frames > n + 2 && window.csPair.plotted > 1", arg=frames,
                           timeout=WAIT_MS)  # fmt: skip
    shot = tmp_path / "pair.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshots: {tmp_path / 'dashboard.png'} {shot}")
    assert shot.stat().st_size > 20_000
