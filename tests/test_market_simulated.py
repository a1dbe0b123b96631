"""SimulatedMarket: determinism, index/inverse math, sessions, realism and lazy generation."""

import numpy as np
import pandas as pd
import pytest

from activetrader.market import BarArrays, Market, SimulatedMarket, UnknownSymbolError

FIELDS = ("start", "end", "open", "high", "low", "close", "volume", "regular")


@pytest.fixture(scope="module")
def daily():
    return SimulatedMarket(seed=7)


@pytest.fixture(scope="module")
def hourly_pair():
    span = dict(start="2024-01-02", end="2024-12-31")
    return SimulatedMarket(seed=11, **span), SimulatedMarket(seed=11, timeframe="1Hour", **span)


def _same(a: BarArrays, b: BarArrays) -> bool:
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in FIELDS)


def test_simulated_market_follows_market_protocol():
    m = SimulatedMarket(start="2024-01-02", end="2024-01-31")
    assert isinstance(m, Market)
    assert m.symbols == tuple(sorted(m.symbols))
    assert {"AAPL", "MSFT", "GOOGL", "NVDA", "TSLA", "SPY", "QQQ", "SH", "SPXS", "SQQQ"} <= set(m.symbols)
    assert "AAPL" in m and "NOPE" not in m
    assert m.start == pd.Timestamp("2024-01-02 14:30", tz="UTC")
    assert m.end == pd.Timestamp("2024-01-31 21:00", tz="UTC")


def test_simulated_same_seed_identical_bars():
    a, b = SimulatedMarket(seed=3), SimulatedMarket(seed=3)
    for sym in ("AAPL", "SPY", "SQQQ", "KO"):
        assert _same(a.arrays(sym), b.arrays(sym))


def test_simulated_different_seed_differs():
    a, b = SimulatedMarket(seed=3), SimulatedMarket(seed=4)
    for sym in ("AAPL", "SPY", "SH"):
        assert not np.array_equal(a.arrays(sym).close, b.arrays(sym).close)


def test_simulated_symbol_series_independent_of_universe():
    full = SimulatedMarket(seed=5, start="2024-01-02", end="2024-06-28")
    small = SimulatedMarket(seed=5, start="2024-01-02", end="2024-06-28", symbols=["NVDA"])
    assert _same(full.arrays("NVDA"), small.arrays("NVDA"))


@pytest.mark.parametrize(("etf", "index", "k"), [("SH", "SPY", 1), ("SPXS", "SPY", 3), ("SQQQ", "QQQ", 3)])
@pytest.mark.parametrize("timeframe", ["1Day", "1Hour"])
def test_simulated_inverse_etf_close_to_close_returns_are_minus_k_index(etf, index, k, timeframe):
    m = SimulatedMarket(seed=7, start="2023-01-03", end="2024-12-31", timeframe=timeframe)
    frame = m.bars([etf, index], timeframe="1Day")
    e, i = frame.loc[etf, "close"].to_numpy(), frame.loc[index, "close"].to_numpy()
    ret_e, ret_i = e[1:] / e[:-1] - 1, i[1:] / i[:-1] - 1
    np.testing.assert_allclose(ret_e, -k * ret_i, rtol=0, atol=1e-12)
    assert len(ret_e) > 400


def test_simulated_inverse_etf_high_comes_from_index_low(daily):
    spy, sh = daily.arrays("SPY"), daily.arrays("SH")
    prev_i, prev_e = spy.close[:-1], sh.close[:-1]
    np.testing.assert_allclose(sh.high[1:], prev_e * (1 - (spy.low[1:] / prev_i - 1)), rtol=1e-12)
    np.testing.assert_allclose(sh.low[1:], prev_e * (1 - (spy.high[1:] / prev_i - 1)), rtol=1e-12)


def test_simulated_daily_equals_aggregate_of_regular_hourly_bars(hourly_pair):
    d, h = hourly_pair
    for sym in ("AAPL", "SPY", "SPXS", "JPM"):
        da, ha = d.arrays(sym), h.arrays(sym)
        reg = ha.regular
        sess = np.searchsorted(h.calendar.closes, ha.start[reg], side="right")
        frame = pd.DataFrame({"s": sess, "o": ha.open[reg], "h": ha.high[reg], "l": ha.low[reg],
                              "c": ha.close[reg], "v": ha.volume[reg]})
        agg = frame.groupby("s").agg(o=("o", "first"), h=("h", "max"), l=("l", "min"), c=("c", "last"), v=("v", "sum"))
        assert len(agg) == len(da)
        for col, field in zip("ohlcv", ("open", "high", "low", "close", "volume")):
            np.testing.assert_array_equal(agg[col].to_numpy(), getattr(da, field), err_msg=f"{sym} {field}")
        np.testing.assert_array_equal(h.calendar.opens[agg.index], da.start)


def test_simulated_hourly_bars_are_session_aligned_with_extended_hours(hourly_pair):
    _, h = hourly_pair
    a = h.arrays("AAPL")
    day = (pd.DatetimeIndex(a.start.astype("datetime64[ns]")).tz_localize("UTC").tz_convert("America/New_York"))
    on = day.normalize() == pd.Timestamp("2024-03-05", tz="America/New_York")
    assert day[on].strftime("%H:%M").tolist() == [
        "04:00", "05:00", "06:00", "07:00", "08:00", "09:00", "09:30", "10:30", "11:30", "12:30", "13:30",
        "14:30", "15:30", "16:00", "17:00", "18:00", "19:00"]
    assert a.regular[on].tolist() == [False] * 6 + [True] * 7 + [False] * 4
    minutes = ((a.end - a.start) // 60_000_000_000)[on].tolist()
    assert minutes == [60] * 5 + [30] + [60] * 6 + [30] + [60] * 4


def test_simulated_hourly_early_close_day_ends_regular_at_13_and_after_hours_at_17(hourly_pair):
    _, h = hourly_pair
    a = h.arrays("SPY")
    et = pd.DatetimeIndex(a.end.astype("datetime64[ns]")).tz_localize("UTC").tz_convert("America/New_York")
    on = et.normalize() == pd.Timestamp("2024-11-29", tz="America/New_York")
    assert et[on & a.regular].strftime("%H:%M").tolist() == ["10:30", "11:30", "12:30", "13:00"]
    assert et[on][-1].strftime("%H:%M") == "17:00"


def test_simulated_no_bars_on_holiday_and_early_close_daily_bar_ends_1800_utc(daily):
    a = daily.arrays("AAPL")
    frame = daily.bars("AAPL", "2024-07-01", "2024-07-08")
    days = frame.index.get_level_values("timestamp").tz_convert("America/New_York").strftime("%Y-%m-%d").tolist()
    assert days == ["2024-07-01", "2024-07-02", "2024-07-03", "2024-07-05", "2024-07-08"]
    i = int(np.searchsorted(a.start, pd.Timestamp("2024-11-29 14:30", tz="UTC").value))
    assert pd.Timestamp(int(a.end[i]), tz="UTC") == pd.Timestamp("2024-11-29 18:00", tz="UTC")
    assert pd.Timestamp(int(a.start[i]), tz="UTC") == pd.Timestamp("2024-11-29 14:30", tz="UTC")


def test_simulated_overnight_gaps_over_3pct_exist(daily):
    gaps = []
    for sym in ("AAPL", "NVDA", "JPM", "KO", "TSLA"):
        a = daily.arrays(sym)
        gaps.append(np.abs(a.open[1:] / a.close[:-1] - 1))
    gaps = np.concatenate(gaps)
    assert (gaps > 0.03).sum() >= 5
    assert (gaps > 0.05).sum() >= 1


def test_simulated_daily_volatility_is_realistic(daily):
    for sym in daily.symbols:
        if sym in ("SPY", "QQQ", "SH", "SPXS", "SQQQ"):
            continue
        c = daily.arrays(sym).close
        med = np.median(np.abs(c[1:] / c[:-1] - 1))
        assert 0.005 < med < 0.03, (sym, med)


def test_simulated_prices_positive_and_ohlc_consistent(daily):
    for sym in daily.symbols:
        a = daily.arrays(sym)
        assert (a.low > 0).all()
        assert (a.high >= np.maximum(a.open, a.close)).all() and (a.low <= np.minimum(a.open, a.close)).all()
        assert (a.volume >= 1).all()
        assert 10 < a.close[0] < 700, sym


def test_simulated_arrays_are_read_only(daily):
    with pytest.raises(ValueError):
        daily.arrays("AAPL").close[0] = 1.0


def test_simulated_lazy_generation_builds_only_touched_symbols():
    m = SimulatedMarket(seed=1, start="2015-01-02", end="2024-12-31", symbols=500)
    assert len(m.symbols) == 505 and m.generated == ()
    for sym in ("XAAA", "XAJP", "XATF"):
        m.arrays(sym)
    assert set(m.generated) == {"XAAA", "XAJP", "XATF"}
    assert set(m._index) == {"SPY", "QQQ"}  # the index path, made once, is the only other thing built


def test_simulated_unknown_symbol_raises_with_did_you_mean(daily):
    with pytest.raises(UnknownSymbolError, match="'APPL'.*did you mean 'AAPL'"):
        daily.arrays("APPL")


def test_simulated_bad_arguments_raise_value_error():
    with pytest.raises(ValueError, match="timeframe"):
        SimulatedMarket(timeframe="5Min")
    with pytest.raises(ValueError, match="seed"):
        SimulatedMarket(seed=-1)
    with pytest.raises(ValueError, match="no trading session"):
        SimulatedMarket(start="2024-07-04", end="2024-07-04")


def test_simulated_repr_and_info_describe_the_market():
    m = SimulatedMarket(seed=9, start="2024-01-02", end="2024-01-31", symbols=["AAPL"], timeframe="1Hour")
    assert repr(m) == "SimulatedMarket(seed=9, 2024-01-02..2024-01-31, timeframe='1Hour', 6 symbols, 0 generated)"
    assert m.info()["sessions"] == 21
    assert m.regimes().index[0] == pd.Timestamp("2024-01-02")
