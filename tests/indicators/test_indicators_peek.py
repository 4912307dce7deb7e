"""peek evaluates an open bar exactly as update would commit it, and changes no state; reset clears a row."""

from __future__ import annotations

import numpy as np
import pytest
from indicator_driver import Bars, load_pairs

from cryptoscan.indicators import IndicatorBank, IndicatorParams, IndicatorValues
from cryptoscan.indicators.values import FIELDS

H1 = IndicatorParams(interval="1h")
ROWS = 50


@pytest.fixture(scope="module")
def pairs() -> dict[str, Bars]:
    return load_pairs()


def columns(bars: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, ...]:
    """(open_time, open, high, low, close, volume) of ``bars`` (rows, 6) for the update/peek signature."""
    b = bars[rows]
    return (b[:, 0].astype(np.int64), *(b[:, j] for j in range(1, 6)))


def warmed(pairs: dict[str, Bars], length: int, capacity: int = ROWS) -> tuple[IndicatorBank, np.ndarray]:
    """A bank whose first 50 rows hold each pair's first ``length`` bars; returns it and every pair's bars."""
    every = np.stack([b[:2300] for b in pairs.values()])  # (50, 2300, 6)
    bank = IndicatorBank(capacity, H1)
    if length:
        bank.update_many(np.arange(ROWS), *(every[:, :length, j] for j in range(6)))
    return bank, every


def snapshot(bank: IndicatorBank) -> dict[str, bytes]:
    return {k: a.tobytes() for k, a in bank.arrays().items()}


def assert_values_equal(a: IndicatorValues, b: IndicatorValues, rows: np.ndarray | slice = slice(None)) -> None:
    for k in FIELDS:
        np.testing.assert_array_equal(getattr(a, k)[rows], getattr(b, k)[rows], err_msg=k)


SELECTIONS = {
    "every row": np.arange(ROWS),
    "a run of rows": np.arange(10, 40),
    "shuffled subset": np.random.default_rng(3).permutation(ROWS)[:23],
    "one row": np.array([7]),
}


@pytest.mark.parametrize("length", [0, 1, 9, 14, 15, 25, 30, 200, 1500])
@pytest.mark.parametrize("which", list(SELECTIONS))
def test_peek_changes_nothing_and_equals_update(pairs: dict[str, Bars], length: int, which: str) -> None:
    bank, every = warmed(pairs, length)
    rows = SELECTIONS[which]
    bar = columns(every[:, length], rows)
    before = snapshot(bank)
    committed = bank.values()
    peeked = bank.peek(rows, *bar)
    assert snapshot(bank) == before  # every state array bit-identical
    others = np.setdiff1d(np.arange(ROWS), rows)
    assert_values_equal(peeked, committed, others)
    bank.update(rows, *bar)
    assert_values_equal(peeked, bank.values())


@pytest.mark.parametrize("which", list(SELECTIONS))
def test_peeks_of_a_forming_bar_leave_no_trace(pairs: dict[str, Bars], which: str) -> None:
    """Peeking at several versions of the open bar, then committing the closed one, equals committing only."""
    rows = SELECTIONS[which]
    a, every = warmed(pairs, 1460)
    b, _ = warmed(pairs, 1460)
    for t in range(1460, 1500):
        final = columns(every[:, t], rows)
        for wobble in (0.97, 1.02, 1.0):  # the forming bar moves before it closes
            forming = (final[0], final[1], final[2] * wobble, final[3] * wobble, final[4] * wobble, final[5] * wobble)
            a.peek(rows, *forming)
        a.update(rows, *final)
        b.update(rows, *final)
    assert snapshot(a) == snapshot(b)


def test_values_share_no_memory_with_state_or_inputs(pairs: dict[str, Bars]) -> None:
    bank, every = warmed(pairs, 300)
    state = list(bank.arrays().values())
    for rows in SELECTIONS.values():
        bar = columns(every[:, 300], rows)
        for values in (bank.peek(rows, *bar), bank.values()):
            for k in FIELDS:
                out = getattr(values, k)
                assert out.shape == (ROWS,), k
                assert not any(np.shares_memory(out, s) for s in (*state, *bar)), k


def test_values_dtypes() -> None:
    values = IndicatorBank(3).values()
    for k in FIELDS:
        assert getattr(values, k).dtype == (np.int64 if k == "macd_cross_age" else np.float64), k
        assert getattr(values, k).shape == (3,)


def test_reset_clears_a_row_fully(pairs: dict[str, Bars]) -> None:
    bank, every = warmed(pairs, 1500, capacity=ROWS + 1)
    twin, _ = warmed(pairs, 1500, capacity=ROWS + 1)
    fresh = IndicatorBank(ROWS + 1, H1).arrays()
    reset = np.array([3, 17])
    bank.reset(reset)
    kept = np.setdiff1d(np.arange(ROWS + 1), reset)
    for k, a in bank.arrays().items():
        np.testing.assert_array_equal(a[..., reset], fresh[k][..., reset], err_msg=k)  # rows are the last axis
        np.testing.assert_array_equal(a[..., kept], twin.arrays()[k][..., kept], err_msg=k)
    assert bank.bars[3] == 0 and bank.bars[4] == 1500
    # the reused row behaves exactly like a brand-new one (row 50 of the same bank has never had a bar)
    series = every[40]
    for t in range(300):
        rows = np.array([3, ROWS])
        bank.update(rows, *columns(np.stack([series[t], series[t]]), np.arange(2)))
    v = bank.values()
    for k in FIELDS:
        np.testing.assert_array_equal(getattr(v, k)[3], getattr(v, k)[ROWS], err_msg=k)


def test_bars_counts_and_is_read_only(pairs: dict[str, Bars]) -> None:
    bank, _ = warmed(pairs, 10, capacity=ROWS + 2)
    assert bank.bars.tolist() == [10] * ROWS + [0, 0]
    with pytest.raises(ValueError):
        bank.bars[0] = 5
