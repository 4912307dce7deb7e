"""Importers on real Binance klines: freqtrade JSON (50 pairs, 1h, 2021 H1) and Binance's public-data CSV (ADABTC
1m). The variants with no real file (zip, header, µs times, feather, json.gz) are derived here from the real
files; corrupted lines are real lines with one field damaged."""

from __future__ import annotations

import gzip
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pytest
from pyarrow import feather

from cryptoscan.backtest.history import HistoryError
from cryptoscan.backtest.import_formats import BINANCE_COLUMNS
from cryptoscan.backtest.importers import identify, import_histories, import_history
from cryptoscan.market.rings import (
    CLOSE,
    HIGH,
    LOW,
    OPEN,
    OPEN_TIME,
    QUOTE_VOLUME,
    TAKER_BUY_VOLUME,
    TRADES,
    VOLUME,
)

KLINES = Path(__file__).resolve().parents[3] / "shared" / "data" / "binance" / "klines"
JSON_DIR = KLINES / "freqtrade_json_1h_2021H1"
CSV_DIR = KLINES / "binance_csv_1m"
CSV_DAY1 = CSV_DIR / "ADABTC-1m-2021-11-27.csv"
HEADER = ",".join(BINANCE_COLUMNS) + "\n"


def csv_rows(path: Path) -> list[list[str]]:
    return [line.split(",") for line in path.read_text().splitlines() if line]


def expected_csv_bars(paths: list[Path]) -> np.ndarray:
    """The CSV rows in History's field order, read independently of the importer."""
    rows = [r for p in paths for r in csv_rows(p)]
    cols = {f: [float(r[i]) for r in rows] for f, i in (("t", 0), ("o", 1), ("h", 2), ("l", 3), ("c", 4), ("v", 5),
                                                          ("q", 7), ("n", 8), ("tb", 9))}  # fmt: skip
    return np.array([cols[k] for k in ("t", "o", "h", "l", "c", "v", "q", "n", "tb")])


def write_lines(path: Path, lines: list[str], header: bool = False) -> Path:
    path.write_text((HEADER if header else "") + "".join(line + "\n" for line in lines))
    return path


def damaged(path: Path, line_no: int, column: int, value: str) -> list[str]:
    """The file's lines with one field of one line (1-based) replaced."""
    lines = path.read_text().splitlines()
    parts = lines[line_no - 1].split(",")
    parts[column] = value
    lines[line_no - 1] = ",".join(parts)
    return lines


# --- freqtrade JSON --------------------------------------------------------------------------------------------


def test_the_50_pair_json_folder_imports_every_bar_with_names_from_the_files() -> None:
    result = import_history([JSON_DIR])
    h = result.history
    assert (h.venue, h.interval, len(h)) == ("spot", "1h", 50)
    raw = {p.name.split("-")[0].replace("_", ""): json.loads(p.read_text()) for p in JSON_DIR.glob("*-1h.json")}
    assert result.bars == {s: len(rows) for s, rows in raw.items()}
    btc = h.bars["BTCUSDT"]
    assert btc[OPEN_TIME:VOLUME + 1, 0].tolist() == raw["BTCUSDT"][0]
    assert btc[CLOSE, -1] == raw["BTCUSDT"][-1][4]
    assert np.isnan(btc[[QUOTE_VOLUME, TRADES, TAKER_BUY_VOLUME]]).all()  # freqtrade has none: NaN, never guessed
    assert result.skipped == {} and len(result.files) == 50
    assert result.ignored == [f"{JSON_DIR / 'pairs.json'}: the name does not say the symbol and interval: give it"]


def test_json_gz_and_feather_written_from_the_real_json_give_the_same_bars(tmp_path: Path) -> None:
    src = JSON_DIR / "ETH_USDT-1h.json"
    rows = json.loads(src.read_text())
    (tmp_path / "ETH_USDT-1h.json.gz").write_bytes(gzip.compress(src.read_bytes()))
    times = pa.array([r[0] for r in rows], type=pa.int64()).cast(pa.timestamp("ms", tz="UTC"))
    table = pa.table({"date": times.cast(pa.timestamp("ns", tz="UTC")),  # as pandas writes it
                      **{k: [r[i] for r in rows] for i, k in enumerate(("open", "high", "low", "close", "volume"), 1)}})
    feather.write_feather(table, str(tmp_path / "ETH_USDT_USDT-1h-futures.feather"))
    plain = import_history([src]).history.bars["ETHUSDT"]
    gz = import_history([tmp_path / "ETH_USDT-1h.json.gz"]).history
    fut = import_history([tmp_path / "ETH_USDT_USDT-1h-futures.feather"]).history
    assert (gz.venue, fut.venue, fut.interval) == ("spot", "futures", "1h")
    np.testing.assert_array_equal(gz.bars["ETHUSDT"], plain)
    np.testing.assert_array_equal(fut.bars["ETHUSDT"], plain)


def test_a_bad_json_row_is_named_and_skipping_counts_it(tmp_path: Path) -> None:
    rows = json.loads((JSON_DIR / "ADA_USDT-1h.json").read_text())
    rows[6][2] = "oops"
    rows[9], rows[10] = rows[10], rows[9]  # out of order
    bad = tmp_path / "ADA_USDT-1h.json"
    bad.write_text(json.dumps(rows))
    with pytest.raises(HistoryError, match=r"ADA_USDT-1h\.json row 7: .* is not \[time, open, high, low, close"):
        import_history([bad])
    result = import_history([bad], on_error="skip")
    assert result.skipped == {"not a kline row": 1, "out of order or repeated": 1}
    assert result.bars["ADAUSDT"] == len(rows) - 2
    assert result.examples[1] == f"{bad} row 11: open time {rows[10][0]} is not after the rows before it"


def test_a_file_that_is_not_json_is_an_error_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "BTC_USDT-1h.json"
    bad.write_bytes((JSON_DIR / "BTC_USDT-1h.json").read_bytes()[:5000])  # cut short
    with pytest.raises(HistoryError, match=r"BTC_USDT-1h\.json: not JSON"):
        import_history([bad])
    result = import_history([tmp_path], on_error="skip")  # a folder with nothing usable left
    assert result.ignored and result.ignored[0].startswith(f"{bad}: not JSON") and result.total_bars == 0


# --- Binance CSV ------------------------------------------------------------------------------------------------


def test_the_binance_csv_folder_imports_with_symbol_and_interval_from_the_names() -> None:
    result = import_history([CSV_DIR])
    h = result.history
    assert (h.venue, h.interval, list(h)) == ("spot", "1m", ["ADABTC"])
    files = sorted(CSV_DIR.glob("*.csv"))
    np.testing.assert_array_equal(h.bars["ADABTC"], expected_csv_bars(files))
    assert result.total_bars == sum(len(csv_rows(p)) for p in files) and result.micros == 0


@pytest.mark.parametrize("variant", ["zip", "header", "micros", "header+micros+zip"])
def test_zipped_headed_and_microsecond_csv_give_the_same_bars(tmp_path: Path, variant: str) -> None:
    lines = CSV_DAY1.read_text().splitlines()
    if "micros" in variant:  # Binance's spot files since 2025: open and close times in µs
        lines = [",".join([str(int(r[0]) * 1000), *r[1:6], str(int(r[6]) * 1000 + 999), *r[7:]])
                 for r in (line.split(",") for line in lines)]  # fmt: skip
    path = write_lines(tmp_path / CSV_DAY1.name, lines, header="header" in variant)
    if "zip" in variant:
        zipped = tmp_path / "sub" / CSV_DAY1.with_suffix(".zip").name
        zipped.parent.mkdir()
        with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as z:
            z.write(path, CSV_DAY1.name)
        path.unlink()
        path = zipped
    result = import_history([path])
    np.testing.assert_array_equal(result.history.bars["ADABTC"], expected_csv_bars([CSV_DAY1]))
    assert result.micros == (10 if "micros" in variant else 0)
    assert result.files == [f"{path}!{CSV_DAY1.name}" if "zip" in variant else str(path)]


@pytest.mark.parametrize(("line_no", "column", "value", "message"), [
    (5, 2, "abc", r"line 5: high is not a number: 'abc'"),
    (3, 4, "", r"line 3: close is not a number: ''"),
    (7, 3, "0.00002999", r"line 7: high 2.\d+e-05 and low 2.999e-05 do not bound open"),  # low above high
    (4, 6, "1637971439998", r"line 4: close time 1637971439998 is not open time \+ 1m - 1 ms"),
    (8, 0, "1637971680001", r"line 8: open time 1637971680001 is not on the 1m grid"),
])  # fmt: skip
def test_a_malformed_csv_line_names_the_file_and_line(tmp_path: Path, line_no: int, column: int, value: str,
                                                      message: str) -> None:  # fmt: skip
    path = write_lines(tmp_path / CSV_DAY1.name, damaged(CSV_DAY1, line_no, column, value))
    with pytest.raises(HistoryError, match=f"{CSV_DAY1.name} {message}"):
        import_history([path])
    skipped = import_history([path], on_error="skip")
    assert skipped.total_bars == 9 and sum(skipped.skipped.values()) == 1
    assert skipped.examples[0].startswith(f"{path} line {line_no}: ")


def test_line_numbers_count_the_header_and_blank_lines(tmp_path: Path) -> None:
    lines = damaged(CSV_DAY1, 4, 1, "x")
    lines.insert(2, "")
    path = write_lines(tmp_path / CSV_DAY1.name, lines, header=True)
    with pytest.raises(HistoryError, match=r"line 6: open is not a number: 'x'"):  # header + blank line before it
        import_history([path])
    short = write_lines(tmp_path / "ADABTC-1m-2021-11-29.csv", [*CSV_DAY1.read_text().splitlines()[:3], "1,2,3"])
    with pytest.raises(HistoryError, match=r"ADABTC-1m-2021-11-29\.csv line 4: 3 columns, expected 12"):
        import_history([short])


def test_a_csv_that_is_not_klines_is_refused_by_its_header(tmp_path: Path) -> None:
    trades = tmp_path / "ADABTC-1m-2021-11-27.csv"
    trades.write_text("agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n")
    with pytest.raises(HistoryError, match=r"line 1: not Binance's kline header"):
        import_history([trades])


def test_overlapping_files_merge_and_repeats_are_counted(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    shutil.copytree(CSV_DIR, folder)
    with zipfile.ZipFile(folder / CSV_DAY1.with_suffix(".zip").name, "w") as z:  # the same day again, zipped
        z.write(CSV_DAY1, CSV_DAY1.name)
    (folder / "ADABTC-1m-2021-11-27.zip.CHECKSUM").write_text("abc  ADABTC-1m-2021-11-27.zip\n")
    result = import_history([folder])
    np.testing.assert_array_equal(result.history.bars["ADABTC"], expected_csv_bars(sorted(CSV_DIR.glob("*.csv"))))
    assert result.skipped == {"repeat in another file": 10}
    assert len(result.files) == 3 and len(result.ignored) == 1 and "CHECKSUM" in result.ignored[0]


def test_files_that_disagree_on_a_bar_stop_the_import_unless_skipping(tmp_path: Path) -> None:
    other = tmp_path / "b" / CSV_DAY1.name
    other.parent.mkdir()
    lines = CSV_DAY1.read_text().splitlines()
    parts = lines[2].split(",")
    parts[5] = str(float(parts[5]) * 2)  # the same bar with another volume
    lines[2] = ",".join(parts)
    write_lines(other, lines)
    with pytest.raises(HistoryError, match=r"disagree on ADABTC's bar at 1637971320000"):
        import_history([CSV_DAY1, other])
    result = import_history([CSV_DAY1, other], on_error="skip")
    assert result.skipped == {"conflicting repeat": 1, "repeat in another file": 9}
    assert result.history.bars["ADABTC"][VOLUME, 2] == float(csv_rows(CSV_DAY1)[2][5])  # the first file's bar


# --- names, selection, overrides ---------------------------------------------------------------------------------


def test_names_say_symbol_interval_and_venue() -> None:
    f = identify(Path("data/futures/um/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01.zip"))
    assert not isinstance(f, str) and (f.symbol, f.interval, f.venue, f.fmt) == ("BTCUSDT", "1h", "futures",
                                                                                "binance_csv")  # fmt: skip
    g = identify(Path("user_data/data/binance/futures/SOL_USDT_USDT-5m-futures.feather"))
    assert not isinstance(g, str) and (g.symbol, g.interval, g.venue) == ("SOLUSDT", "5m", "futures")
    funding = identify(Path("BTC_USDT_USDT-1h-funding_rate.feather"))
    assert funding == "freqtrade funding_rate candles, not the pair's klines"
    assert isinstance(identify(Path("notes.txt")), str)


def test_a_file_with_an_unhelpful_name_takes_the_given_symbol_and_interval(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    shutil.copy(CSV_DAY1, path)
    with pytest.raises(HistoryError, match=r"export\.csv: the name does not say the symbol and interval: give it"):
        import_history([path])
    h = import_history([path], symbol="adabtc", interval="1m", venue="futures").history
    assert (h.venue, list(h), h.total_bars()) == ("futures", ["ADABTC"], 10)
    with pytest.raises(HistoryError, match=r"line 1: close time 1637971259999 is not open time \+ 1h - 1 ms \(and 9"):
        import_history([path], symbol="ADABTC", interval="1h")  # a wrong interval shows at once


def test_a_folder_with_several_intervals_needs_one_picked(tmp_path: Path) -> None:
    for name in ("BTC_USDT-1h.json", "ETH_USDT-1h.json"):
        shutil.copy(JSON_DIR / name, tmp_path / name)
    shutil.copy(CSV_DAY1, tmp_path / CSV_DAY1.name)
    with pytest.raises(HistoryError, match=r"several series \(spot 1h, spot 1m\)"):
        import_history([tmp_path])
    assert [(r.history.interval, list(r.history)) for r in import_histories([tmp_path])] == [
        ("1h", ["BTCUSDT", "ETHUSDT"]), ("1m", ["ADABTC"])]
    picked = import_history([tmp_path], interval="1h", symbol="ETHUSDT")
    assert list(picked.history) == ["ETHUSDT"] and len(picked.ignored) == 2
    assert sorted(i.rsplit(": ", 1)[1] for i in picked.ignored) == ["symbol ADABTC, not ETHUSDT",
                                                                     "symbol BTCUSDT, not ETHUSDT"]
    assert picked.history.bars["ETHUSDT"][[OPEN, HIGH, LOW], 0].tolist() == json.loads(
        (JSON_DIR / "ETH_USDT-1h.json").read_text())[0][1:4]


def test_missing_paths_and_empty_folders_are_errors(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="no such file or folder"):
        import_history([tmp_path / "nope"])
    with pytest.raises(HistoryError, match="no kline files found"):
        import_history([tmp_path])
