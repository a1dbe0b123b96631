"""HistoricalMarket: validation, files, bar-length inference, sessions and real data."""

import numpy as np
import pandas as pd
import pytest

from activetrader.market import HistoricalMarket, Market, SimulatedMarket, UnknownSymbolError

HOUR = 3_600_000_000_000


def _daily(n=5, start="2024-01-02", **overrides) -> pd.DataFrame:
    dates = pd.bdate_range(start, periods=n + 2)
    dates = dates[dates != pd.Timestamp("2024-01-15")][:n]  # skip MLK day
    close = 100 + np.arange(n, dtype=float)
    df = pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "open": close - 0.5, "high": close + 1,
                       "low": close - 1, "close": close, "volume": 1000.0})
    for col, (row, value) in overrides.items():
        df.loc[row, col] = value
    return df


def _hourly(times_et: list[str]) -> pd.DataFrame:
    ts = pd.DatetimeIndex(times_et).tz_localize("America/New_York")
    return pd.DataFrame({"open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5, "volume": 100.0}, index=ts)


def test_historical_market_follows_market_protocol():
    m = HistoricalMarket({"ABC": _daily()})
    assert isinstance(m, Market)
    assert m.symbols == ("ABC",) and "ABC" in m and m.timeframe == "1Day"
    assert m.start == pd.Timestamp("2024-01-02 14:30", tz="UTC")
    assert m.end == pd.Timestamp("2024-01-08 21:00", tz="UTC")


@pytest.mark.parametrize(("frame", "problem"), [
    (_daily().drop(columns=["volume", "low"]), "missing column(s) low, volume"),
    (_daily().drop(columns=["date"]), "missing column(s) date or timestamp"),
    (_daily(close=(2, np.nan)), "NaN or non-numeric 'close' at 2024-01-04"),
    (_daily(high=(1, 90.0)), "high < low at 2024-01-03"),
    (_daily(high=(1, 100.8)), "high below open or close at 2024-01-03"),
    (_daily(low=(3, 103.5)), "low above open or close at 2024-01-05"),
    (_daily(low=(0, -1.0)), "price not positive at 2024-01-02"),
    (_daily(date=(3, "2024-01-03")), "not in ascending order: 2024-01-03 00:00:00 (row 3)"),
    (_daily(date=(2, "2024-01-03")), "duplicate time 2024-01-03 00:00:00 (rows 1 and 2)"),
    (_daily(date=(4, "2024-01-06")), "2024-01-06 (row 4) is not an XNYS trading session"),
])
def test_historical_invalid_data_raises_value_error_naming_symbol_and_problem(frame, problem):
    with pytest.raises(ValueError) as err:
        HistoricalMarket({"ABC": frame})
    assert str(err.value).startswith("ABC: ")
    assert problem in str(err.value)


def test_historical_columns_case_insensitive_and_float_noise_widened():
    df = _daily().rename(columns=str.upper)
    df.loc[0, "HIGH"] = df.loc[0, "CLOSE"] * (1 - 1e-12)
    m = HistoricalMarket({"ABC": df})
    a = m.arrays("ABC")
    assert a.high[0] == a.close[0] == 100.0


def test_historical_daily_bars_span_session_open_to_close_with_early_close():
    df = pd.DataFrame({"date": ["2024-11-27", "2024-11-29", "2024-12-02"], "open": 1.0, "high": 2.0,
                       "low": 0.5, "close": 1.5, "volume": 10})
    a = HistoricalMarket({"X": df}).arrays("X")
    assert [pd.Timestamp(int(t), tz="UTC").strftime("%m-%d %H:%M") for t in a.end] == [
        "11-27 21:00", "11-29 18:00", "12-02 21:00"]
    assert pd.Timestamp(int(a.start[1]), tz="UTC") == pd.Timestamp("2024-11-29 14:30", tz="UTC")
    assert a.regular.all()


def test_historical_infers_daily_from_midnights_and_hourly_from_spacing():
    daily = HistoricalMarket({"ABC": _daily()})
    hourly = HistoricalMarket({"ABC": _hourly(["2024-01-02 09:00", "2024-01-02 10:00", "2024-01-02 11:00",
                                              "2024-01-03 09:00"])})
    quarter = HistoricalMarket({"ABC": _hourly(["2024-01-02 09:30", "2024-01-02 09:45", "2024-01-02 10:00"])})
    assert (daily.timeframe, hourly.timeframe, quarter.timeframe) == ("1Day", "1Hour", "15Min")
    assert HistoricalMarket({"ABC": _hourly(["2024-01-02 09:00"])}, timeframe="1Hour").timeframe == "1Hour"
    with pytest.raises(ValueError, match="pass timeframe="):
        HistoricalMarket({"ABC": _hourly(["2024-01-02 09:00"])})


def test_historical_intraday_bar_straddling_open_is_regular_and_premarket_bar_is_not():
    m = HistoricalMarket({"ABC": _hourly(["2024-01-02 08:00", "2024-01-02 09:00", "2024-01-02 10:00",
                                         "2024-01-02 15:00", "2024-01-02 16:00"])})
    a = m.arrays("ABC")
    assert a.regular.tolist() == [False, True, True, True, False]
    assert (a.end - a.start).tolist() == [HOUR] * 5
    assert pd.Timestamp(int(a.start[1]), tz="UTC") == pd.Timestamp("2024-01-02 14:00", tz="UTC")


def test_historical_intraday_naive_timestamps_are_utc():
    df = _hourly(["2024-01-02 09:00", "2024-01-02 10:00"])
    df.index = df.index.tz_convert("UTC").tz_localize(None)
    a = HistoricalMarket({"ABC": df}).arrays("ABC")
    assert pd.Timestamp(int(a.start[0]), tz="UTC") == pd.Timestamp("2024-01-02 14:00", tz="UTC")


def test_historical_from_folder_reads_csv_and_parquet(tmp_path):
    _daily().to_csv(tmp_path / "abc.csv", index=False)
    _daily(n=3).rename(columns={"date": "Timestamp"}).to_parquet(tmp_path / "XYZ.parquet")
    (tmp_path / "notes.txt").write_text("ignored")
    m = HistoricalMarket.from_folder(tmp_path)
    assert m.symbols == ("ABC", "XYZ")
    assert (len(m.arrays("ABC")), len(m.arrays("XYZ"))) == (5, 3)
    np.testing.assert_array_equal(m.arrays("XYZ").close, [100.0, 101.0, 102.0])


def test_historical_from_folder_two_files_for_one_symbol_raises(tmp_path):
    _daily().to_csv(tmp_path / "ABC.csv", index=False)
    _daily().to_parquet(tmp_path / "ABC.parquet")
    with pytest.raises(ValueError, match="ABC: two files"):
        HistoricalMarket.from_folder(tmp_path)


def test_historical_from_barset_frame_round_trips_simulated_bars():
    sim = SimulatedMarket(seed=2, start="2024-01-02", end="2024-03-28")
    m = HistoricalMarket(sim.bars(["AAPL", "SH"]))
    assert m.timeframe == "1Day"
    for sym in ("AAPL", "SH"):
        a, b = m.arrays(sym), sim.arrays(sym)
        for f in ("start", "end", "open", "high", "low", "close", "volume"):
            np.testing.assert_array_equal(getattr(a, f), getattr(b, f))


def test_historical_unknown_symbol_raises_with_did_you_mean():
    m = HistoricalMarket({"MSFT": _daily()})
    with pytest.raises(UnknownSymbolError, match="did you mean 'MSFT'"):
        m.arrays("MSTF")


def test_historical_real_data_loads_aapl_and_spy(tmp_path, real_data_dir):
    for sym in ("AAPL", "SPY"):
        (tmp_path / f"{sym}.csv").symlink_to(real_data_dir / f"{sym}.csv")
    m = HistoricalMarket.from_folder(tmp_path)
    assert m.symbols == ("AAPL", "SPY") and m.timeframe == "1Day"
    a = m.arrays("AAPL")
    assert len(a) == 3895
    assert pd.Timestamp(int(a.start[0]), tz="UTC") == pd.Timestamp("2010-01-04 14:30", tz="UTC")
    frame = m.bars("SPY", "2024-11-29", "2024-11-29")
    assert frame.index[0] == ("SPY", pd.Timestamp("2024-11-29 05:00", tz="UTC"))
    i = int(np.searchsorted(m.arrays("SPY").start, pd.Timestamp("2024-11-29", tz="UTC").value))
    assert pd.Timestamp(int(m.arrays("SPY").end[i]), tz="UTC") == pd.Timestamp("2024-11-29 18:00", tz="UTC")


# -- every data error names the symbol (issue 7) ---------------------------------------------
def _bad_frames():
    good = _daily()
    return {
        "empty frame": good.iloc[0:0],
        "missing columns": good.drop(columns=["close"]),
        "no time column": good.drop(columns=["date"]),
        "unreadable times": good.assign(date=["2024-01-02", "not a date", "2024-01-04", "2024-01-05", "2024-01-08"]),
        "missing time": good.assign(date=["2024-01-02", None, "2024-01-04", "2024-01-05", "2024-01-08"]),
        "NaN price": _daily(close=(2, np.nan)),
        "text price": good.assign(open=["1", "x", "3", "4", "5"]),
        "high below low": _daily(high=(1, 90.0)),
        "negative volume": _daily(volume=(0, -1.0)),
        "not positive": _daily(low=(0, 0.0)),
        "unsorted": good.iloc[[1, 0, 2, 3, 4]],
        "duplicate": good.iloc[[0, 1, 1, 2, 3]],
        "weekend": good.assign(date=["2024-01-02", "2024-01-03", "2024-01-06", "2024-01-08", "2024-01-09"]),
        "not a frame": [1, 2, 3],
        "columns differing in case": good.assign(Close=good["close"]),
        "single intraday bar": _hourly(["2024-01-02 10:00"]),
        "odd bar length": _hourly(["2024-01-02 10:00", "2024-01-02 11:30", "2024-01-02 13:00"]),
    }


@pytest.mark.parametrize("problem", list(_bad_frames()))
def test_historical_market_data_error_names_the_symbol(problem):
    with pytest.raises((ValueError, TypeError)) as err:
        HistoricalMarket({"ZZTOP": _bad_frames()[problem]})
    assert "ZZTOP" in str(err.value), f"{problem}: {err.value}"


def test_historical_market_bad_symbol_among_good_ones_is_the_one_named():
    with pytest.raises(ValueError, match=r"^QQQ: no bars \(an empty frame\)"):
        HistoricalMarket({"AAA": _daily(), "QQQ": _daily().iloc[0:0], "ZZZ": _daily()})


def test_historical_market_from_folder_names_the_symbol_of_an_unreadable_file(tmp_path):
    _daily().to_csv(tmp_path / "AAA.csv", index=False)
    (tmp_path / "BAD.parquet").write_bytes(b"this is not parquet")
    with pytest.raises(ValueError, match=r"^BAD: cannot read .*BAD\.parquet"):
        HistoricalMarket.from_folder(tmp_path)


def test_historical_market_single_intraday_bar_error_says_which_symbol():
    with pytest.raises(ValueError, match=r"^ONE: cannot infer the bar length from a single intraday bar"):
        HistoricalMarket({"ONE": _hourly(["2024-01-02 10:00"])})
