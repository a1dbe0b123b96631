"""A deterministic synthetic US equity market with an index, inverse ETFs and regimes.

How the prices are made (all in log space, so prices stay positive):

* **Sessions** come from :class:`~activetrader.market.MarketCalendar` (holidays, early closes).
  Every session is cut into session-aligned bars: pre-market hours from 04:00 ET to the open (the
  last one shorter, 09:00-09:30), regular hours from the open (09:30, 10:30, ... the last one
  ending at the close) and after-hours from the close to 20:00 ET (17:00 after an early close).
* **Regimes**: a seeded Markov chain over sessions switches between calm/volatile and up/down
  states, scaling volatility, drift and volume for every symbol.
* **Index** ``SPY`` is a random walk with regime drift and volatility; ``QQQ`` is 1.2x SPY plus
  its own noise. **Stocks** move by ``beta`` x their index (SPY or QQQ) plus idiosyncratic noise.
  Extended hours move little and trade little; the overnight **gap** (between 20:00 and 04:00)
  carries the index's overnight move, the stock's own news and now and then an earnings-like
  jump of several percent. High and low reach beyond open and close by a random fraction of
  the bar's volatility.
* **Inverse ETFs** ``SH`` (-1x SPY), ``SPXS`` (-3x SPY) and ``SQQQ`` (-3x QQQ) reset daily at
  the regular close: every price p of the index maps to
  ``prev_close_etf * max(1 - k * (p / prev_close_index - 1), INVERSE_FLOOR)``; the high comes
  from the index low and the low from the index high. Close-to-close returns are exactly
  ``-k`` times the index's (unless the floor binds: an index move beyond +33% for 3x). After-hours
  prices are relative to that day's close; the first session's reference is its first price.
* **Daily bars** are the aggregate of each session's regular hourly bars, so a daily and an
  hourly market with the same seed agree exactly.

Each symbol's series depends only on ``(seed, symbol, span)``: its generator is seeded from
``numpy.random.SeedSequence([seed, crc32(symbol)])``. Series are made on the first
:meth:`SimulatedMarket.arrays` call and cached, so a 500-symbol, 10-year market is cheap to
create and costs only what it is asked for; the index path is made once per market.
"""

from __future__ import annotations

import bisect
import zlib

import numpy as np
import pandas as pd

from .base import BarArrays
from .frames import MarketData
from .sessions import MarketCalendar, from_ns

_H = 3_600_000_000_000
#: Lowest daily factor of an inverse ETF: it can lose at most 99% in one session.
INVERSE_FLOOR = 0.01
INDEXES = ("SPY", "QQQ")
#: Inverse ETF -> (index, leverage).
INVERSES = {"SH": ("SPY", 1.0), "SPXS": ("SPY", 3.0), "SQQQ": ("QQQ", 3.0)}
_ETF = {"SPY": (380.0, 80e6), "QQQ": (265.0, 50e6), "SH": (15.0, 6e6), "SPXS": (25.0, 30e6), "SQQQ": (50.0, 90e6)}
_INDEX_VOL = {"SPY": 0.0085, "QQQ": 0.005}  # daily vol of SPY; QQQ's own noise on top of 1.2 x SPY

# symbol: (start price, beta, index, idiosyncratic daily vol, average daily volume in millions of shares)
_UNIVERSE = {
    "AAPL": (130, 1.2, "QQQ", 0.013, 70), "MSFT": (240, 1.1, "QQQ", 0.013, 30), "GOOGL": (90, 1.1, "QQQ", 0.016, 35),
    "NVDA": (150, 1.7, "QQQ", 0.026, 50), "TSLA": (120, 1.9, "QQQ", 0.030, 130), "AMZN": (85, 1.3, "QQQ", 0.018, 70),
    "META": (125, 1.3, "QQQ", 0.022, 25), "JPM": (135, 1.0, "SPY", 0.012, 10), "JNJ": (175, 0.5, "SPY", 0.010, 7),
    "XOM": (110, 0.8, "SPY", 0.015, 18), "KO": (60, 0.5, "SPY", 0.010, 13), "WMT": (145, 0.5, "SPY", 0.010, 7),
    "UNH": (500, 0.7, "SPY", 0.013, 3.5), "AMD": (65, 1.8, "QQQ", 0.026, 60), "NFLX": (300, 1.4, "QQQ", 0.024, 7),
    "V": (210, 0.9, "SPY", 0.011, 7), "MA": (350, 1.0, "SPY", 0.011, 3), "PG": (150, 0.5, "SPY", 0.010, 7),
    "HD": (320, 1.0, "SPY", 0.012, 4), "CVX": (180, 0.9, "SPY", 0.015, 9), "PFE": (50, 0.6, "SPY", 0.013, 25),
    "MRK": (110, 0.5, "SPY", 0.011, 9), "PEP": (180, 0.5, "SPY", 0.010, 5), "COST": (480, 0.8, "SPY", 0.011, 2),
    "DIS": (95, 1.1, "SPY", 0.016, 12), "BAC": (33, 1.2, "SPY", 0.015, 40), "INTC": (28, 1.1, "QQQ", 0.020, 40),
    "CSCO": (48, 0.9, "QQQ", 0.012, 18), "ORCL": (82, 1.0, "QQQ", 0.015, 9), "CRM": (135, 1.3, "QQQ", 0.020, 7),
    "ADBE": (340, 1.2, "QQQ", 0.018, 3), "AVGO": (560, 1.3, "QQQ", 0.018, 2.5), "NKE": (118, 1.0, "SPY", 0.016, 7),
    "MCD": (265, 0.6, "SPY", 0.010, 3), "BA": (200, 1.3, "SPY", 0.019, 7), "CAT": (240, 1.0, "SPY", 0.015, 3),
    "LLY": (365, 0.6, "SPY", 0.015, 3),
}
#: The symbols every simulated market carries.
ETFS = ("SPY", "QQQ", "SH", "SPXS", "SQQQ")
DEFAULT_SYMBOLS = tuple(_UNIVERSE)

# Regimes: name, volatility multiplier, daily drift, volume multiplier; and the daily transition matrix.
_REGIME_NAMES = ("calm-up", "calm-down", "volatile-up", "volatile-down")
_REGIME_VOL = np.array([0.75, 0.9, 1.4, 1.9])
_REGIME_DRIFT = np.array([0.0009, -0.0004, 0.0007, -0.0022])
_REGIME_VOLUME = np.array([0.9, 1.0, 1.3, 1.6])
_TRANSITIONS = np.array([[0.975, 0.012, 0.008, 0.005], [0.015, 0.965, 0.010, 0.010],
                         [0.020, 0.010, 0.950, 0.020], [0.010, 0.015, 0.025, 0.950]])
_EXT_VOL = 0.12  # extended-hours volatility relative to regular hours
_JUMP_P, _JUMP_VOL = 1 / 63, 0.055  # earnings-like overnight jumps of a stock (about 4 a year)


def _readonly(*arrays: np.ndarray) -> None:
    for a in arrays:
        a.flags.writeable = False


class _Schedule:
    """The session-aligned hourly bars of every session (shared by all symbols)."""

    def __init__(self, cal: MarketCalendar, idx: np.ndarray) -> None:
        cuts = (cal.pre_opens[idx], cal.opens[idx], cal.closes[idx], cal.post_closes[idx])
        parts = []
        for kind in range(3):
            a, b = cuts[kind], cuts[kind + 1]
            n = -(-(b - a) // _H)
            sess = np.repeat(np.arange(len(a)), n)
            k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
            s = a[sess] + k * _H
            parts.append((s, np.minimum(s + _H, b[sess]), sess, np.full(len(s), kind), k, np.repeat(n, n)))
        s, e, sess, kind, k, n = (np.concatenate(x) for x in zip(*parts))
        order = np.argsort(s, kind="stable")
        self.start, self.end, self.session, kind, k, n = (x[order] for x in (s, e, sess, kind, k, n))
        self.regular, self.post = kind == 1, kind == 2
        hours = (self.end - self.start) / _H
        #: Share of a regular day's variance, and of its volume, that each bar carries.
        self.w_regular = np.where(self.regular, hours / 6.5, 0.0)
        self.w = np.where(self.regular, self.w_regular, _EXT_VOL**2 * hours / 6.5)
        u_shape = np.where(k == 0, 1.7, np.where(k == n - 1, 1.4, 0.85))
        self.vshare = np.where(self.regular, 0.92 * self.w_regular * u_shape, np.where(self.post, 0.012, 0.006) * hours)
        self.first = np.flatnonzero(np.r_[True, self.session[1:] != self.session[:-1]])
        self.reg_index = np.flatnonzero(self.regular)
        reg_sess = self.session[self.reg_index]
        self.reg_first = np.flatnonzero(np.r_[True, reg_sess[1:] != reg_sess[:-1]])  # in regular-only arrays
        self.reg_last = self.reg_index[np.r_[self.reg_first[1:], len(self.reg_index)] - 1]  # in all bars
        _readonly(self.start, self.end, self.regular)


class SimulatedMarket(MarketData):
    """A seeded synthetic market: stocks, an index (SPY, QQQ) and inverse ETFs (SH, SPXS, SQQQ).

    ``symbols`` is None for the default universe (about forty large US stocks), a list of
    tickers, or an int N for N synthetic tickers ``XAAA``, ``XAAB``...; the index and inverse ETFs are
    always present. ``timeframe`` is ``"1Day"`` or ``"1Hour"``. The same seed and arguments give
    identical bars; see the module docstring for the model.

    >>> m = SimulatedMarket(seed=7, start="2024-01-02", end="2024-03-28")
    >>> m
    SimulatedMarket(seed=7, 2024-01-02..2024-03-28, timeframe='1Day', 42 symbols, 0 generated)
    >>> len(m.arrays("SPY")), m.generated
    (61, ('SPY',))
    >>> m.as_of = "2024-01-04 18:00"          # mid-session: the 2024-01-04 bar is not complete
    >>> m.bars(["AAPL", "SH"]).index.get_level_values("timestamp").unique().strftime("%m-%d").tolist()
    ['01-02', '01-03']
    """

    def __init__(self, seed: int = 7, start="2023-01-03", end="2025-12-31", *, timeframe: str = "1Day",
                 symbols=None) -> None:
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed={seed!r}: expected a non-negative int")
        if timeframe not in ("1Day", "1Hour"):
            raise ValueError(f"timeframe={timeframe!r}: SimulatedMarket makes '1Day' or '1Hour' bars")
        self.seed, self.timeframe = int(seed), timeframe
        self.symbols = tuple(sorted(set(_universe(symbols)) | set(ETFS)))
        self.calendar = MarketCalendar(start, end)
        days = self.calendar.sessions_between(start, end)
        if len(days) == 0:
            raise ValueError(f"no trading session between {start} and {end}")
        self._idx = self.calendar.sessions.get_indexer(days)
        self._sched = _Schedule(self.calendar, self._idx)
        self._cache: dict[str, BarArrays] = {}
        self._index: dict[str, dict] | None = None
        self._regime: np.ndarray | None = None

    # -- Market protocol ------------------------------------------------------------
    def arrays(self, symbol: str) -> BarArrays:
        """The bars of one symbol, made on first use and cached (see the module docstring)."""
        a = self._cache.get(symbol)
        if a is None:
            self._check(symbol)
            a = self._cache[symbol] = self._build(symbol)
        return a

    @property
    def start(self) -> pd.Timestamp:
        return from_ns(self._sched.start[0] if self.timeframe == "1Hour" else self.calendar.opens[self._idx[0]])

    @property
    def end(self) -> pd.Timestamp:
        return from_ns(self._sched.end[-1] if self.timeframe == "1Hour" else self.calendar.closes[self._idx[-1]])

    # -- description ----------------------------------------------------------------
    @property
    def generated(self) -> tuple[str, ...]:
        """Symbols whose bars have been made so far (generation is lazy)."""
        return tuple(self._cache)

    def info(self) -> dict:
        """Seed, span, timeframe and universe of the market, as a dict."""
        days = self.calendar.sessions[self._idx]
        return {"seed": self.seed, "first_session": days[0].date(), "last_session": days[-1].date(),
                "sessions": len(days), "timeframe": self.timeframe, "symbols": len(self.symbols),
                "generated": len(self._cache)}

    def __repr__(self) -> str:
        i = self.info()
        return (f"SimulatedMarket(seed={i['seed']}, {i['first_session']}..{i['last_session']}, "
                f"timeframe={i['timeframe']!r}, {i['symbols']} symbols, {i['generated']} generated)")

    def regimes(self) -> pd.Series:
        """The market regime of every session (``calm-up``, ``volatile-down``...)."""
        names = np.array(_REGIME_NAMES, dtype=object)[self._regimes()]
        return pd.Series(names, index=self.calendar.sessions[self._idx], name="regime")

    # -- generation ---------------------------------------------------------------------
    def _rngs(self, key: str) -> tuple[np.random.Generator, np.random.Generator]:
        """(parameters, path) generators of one symbol, from (seed, crc32(symbol))."""
        ss = np.random.SeedSequence([self.seed, zlib.crc32(key.encode())])
        return tuple(np.random.default_rng(s) for s in ss.spawn(2))

    def _regimes(self) -> np.ndarray:
        if self._regime is None:
            u = self._rngs("__regimes__")[1].random(len(self._idx) + 1)
            cum = np.cumsum(_TRANSITIONS, axis=1).tolist()
            state, out = min(int(u[-1] * 2), 1), np.empty(len(self._idx), np.int64)
            for i, x in enumerate(u[:-1].tolist()):
                out[i] = state
                state = min(bisect.bisect_right(cum[state], x), 3)
            self._regime = out
        return self._regime

    def _index_paths(self) -> dict[str, dict]:
        """Per-bar log returns, gaps and OHLC of SPY and QQQ (made once per market)."""
        if self._index is None:
            sch, reg = self._sched, self._regimes()
            vol, drift = _REGIME_VOL[reg], _REGIME_DRIFT[reg]
            self._index = {}
            for sym in INDEXES:
                rng = self._rngs(sym)[1]
                z, zh, zl, zv = rng.standard_normal((4, len(sch.start)))
                zg, shock_u, shock_z = rng.standard_normal(len(reg)), rng.random(len(reg)), rng.standard_normal(len(reg))
                sig = _INDEX_VOL[sym] * vol
                r = sig[sch.session] * np.sqrt(sch.w) * z + (drift[sch.session] * sch.w_regular if sym == "SPY" else 0.0)
                gap = 0.3 * sig * zg + np.where(shock_u < 0.01, 0.025 * shock_z, 0.0)
                if sym == "QQQ":
                    spy = self._index["SPY"]
                    r, gap = 1.2 * spy["r"] + r, 1.2 * spy["gap"] + gap
                    sig = np.hypot(1.2 * _INDEX_VOL["SPY"], _INDEX_VOL["QQQ"]) * vol
                sig_bar = sig[sch.session] * np.sqrt(sch.w)
                self._index[sym] = {"r": r, "gap": gap, "sig_bar": sig_bar, "zv": zv,
                                    "ohlc": self._ohlc(_ETF[sym][0], r, gap, sig_bar, zh, zl)}
        return self._index

    def _ohlc(self, p0, r, gap, sig_bar, zh, zl) -> tuple[np.ndarray, ...]:
        steps = r.copy()
        steps[self._sched.first[1:]] += gap[1:]
        close = np.log(p0) + np.cumsum(steps)
        open_ = close - r
        high = np.maximum(open_, close) + 0.5 * sig_bar * np.abs(zh)
        low = np.minimum(open_, close) - 0.5 * sig_bar * np.abs(zl)
        return tuple(np.exp(x) for x in (open_, high, low, close))

    def _volume(self, adv: float, r: np.ndarray, sig_bar: np.ndarray, zv: np.ndarray) -> np.ndarray:
        sch = self._sched
        surprise = np.minimum(np.abs(r) / np.maximum(sig_bar, 1e-12), 4.0)
        v = adv * sch.vshare * _REGIME_VOLUME[self._regimes()][sch.session] * np.exp(0.3 * zv - 0.045)
        return np.maximum(np.rint(v * (0.7 + 0.3 * surprise)), 1.0)

    def _params(self, sym: str, rng: np.random.Generator) -> tuple:
        if sym in _UNIVERSE:
            p0, beta, index, sig, adv = _UNIVERSE[sym]
            return float(p0), beta, index, sig, adv * 1e6
        return (float(np.exp(rng.uniform(np.log(20), np.log(600)))), rng.uniform(0.5, 1.6),
                "QQQ" if rng.random() < 0.35 else "SPY", rng.uniform(0.010, 0.024), float(np.exp(rng.normal(np.log(5e6), 0.8))))

    def _build(self, sym: str) -> BarArrays:
        sch, idx = self._sched, self._index_paths()
        if sym in idx:
            d = idx[sym]
            o, h, lo, c = d["ohlc"]
            v = self._volume(_ETF[sym][1], d["r"], d["sig_bar"], d["zv"])
        elif sym in INVERSES:
            o, h, lo, c, v = self._inverse(sym)
        else:
            prm, rng = self._rngs(sym)
            p0, beta, index, sig, adv = self._params(sym, prm)
            f, vol = idx[index], _REGIME_VOL[self._regimes()]
            z, zh, zl, zv = rng.standard_normal((4, len(sch.start)))
            zg, ju, jz = rng.standard_normal(len(vol)), rng.random(len(vol)), rng.standard_normal(len(vol))
            s_id = sig * (0.5 + 0.5 * vol)  # idiosyncratic vol rises less with the regime than the index's
            r = beta * f["r"] + s_id[sch.session] * np.sqrt(sch.w) * z
            gap = beta * f["gap"] + 0.3 * s_id * zg + np.where(ju < _JUMP_P, _JUMP_VOL * jz, 0.0)
            sig_bar = np.hypot(beta * f["sig_bar"], s_id[sch.session] * np.sqrt(sch.w))
            o, h, lo, c = self._ohlc(p0, r, gap, sig_bar, zh, zl)
            v = self._volume(adv, r, sig_bar, zv)
        return self._arrays(sym, o, h, lo, c, v)

    def _inverse(self, sym: str) -> tuple[np.ndarray, ...]:
        sch = self._sched
        base, k = INVERSES[sym]
        d = self._index_paths()[base]
        io, ih, il, ic = d["ohlc"]
        close = ic[sch.reg_last]                      # index regular close of every session
        prev = np.r_[io[0], close[:-1]]               # the reference of the next session
        p0 = _ETF[sym][0]
        inv_close = p0 * np.cumprod(np.maximum(1 - k * (close / prev - 1), INVERSE_FLOOR))
        inv_prev = np.r_[p0, inv_close[:-1]]
        ref = np.where(sch.post, close[sch.session], prev[sch.session])
        ref_inv = np.where(sch.post, inv_close[sch.session], inv_prev[sch.session])

        def f(p):
            return ref_inv * np.maximum(1 - k * (p / ref - 1), INVERSE_FLOOR)

        v = self._volume(_ETF[sym][1], k * d["r"], k * d["sig_bar"], self._rngs(sym)[1].standard_normal(len(io)))
        return f(io), f(il), f(ih), f(ic), v

    def _arrays(self, sym, o, h, lo, c, v) -> BarArrays:
        sch = self._sched
        if self.timeframe == "1Hour":
            a = BarArrays(sym, sch.start, sch.end, o, h, lo, c, v, sch.regular)
        else:
            ri, rf = sch.reg_index, sch.reg_first
            last = np.r_[rf[1:], len(ri)] - 1
            opens, closes = self.calendar.opens[self._idx], self.calendar.closes[self._idx]
            a = BarArrays(sym, opens, closes, o[ri][rf], np.maximum.reduceat(h[ri], rf), np.minimum.reduceat(lo[ri], rf),
                          c[ri][last], np.add.reduceat(v[ri], rf), np.ones(len(rf), bool))
        _readonly(a.start, a.end, a.open, a.high, a.low, a.close, a.volume, a.regular)
        return a

    def _native_extras(self, symbol: str, a: BarArrays) -> tuple[np.ndarray, np.ndarray]:
        """Synthetic trade counts (about 90 shares a trade) and the typical price as vwap."""
        return np.maximum(np.rint(a.volume / 90), 1.0), (a.high + a.low + a.close) / 3


def _universe(symbols) -> list[str]:
    if symbols is None:
        return list(DEFAULT_SYMBOLS)
    if isinstance(symbols, (int, np.integer)) and not isinstance(symbols, bool):
        if not 0 <= symbols <= 26 ** 3:
            raise ValueError(f"symbols={symbols}: expected 0..17576 synthetic symbols")
        return [_ticker(i) for i in range(int(symbols))]
    if isinstance(symbols, str):
        symbols = [symbols]
    out = list(symbols)
    bad = [s for s in out if not isinstance(s, str) or not s or s != s.strip().upper()]
    if bad:
        raise ValueError(f"symbols: {bad[:5]!r} are not upper-case tickers")
    return out


def _ticker(i: int) -> str:
    """The i-th synthetic ticker: XAAA, XAAB, ... (letters only, like real US tickers)."""
    a, rem = divmod(i, 26 * 26)
    b, c = divmod(rem, 26)
    return "X" + chr(65 + a) + chr(65 + b) + chr(65 + c)
