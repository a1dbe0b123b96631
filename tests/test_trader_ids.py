"""The iteration id and the client order id prefix are the moment as strftime writes it
(``it-%Y%m%dT%H%M%SZ``, ``at-%Y%m%d%H%M``), written from the Timestamp's fields (issue 7)."""

import pandas as pd
from hypothesis import given, settings as hsettings, strategies as st

from activetrader import Trader
from activetrader.trader import _minute


@hsettings(max_examples=2000, deadline=None)
@given(ns=st.integers(pd.Timestamp.min.value + 86_400 * 10**9, pd.Timestamp.max.value - 86_400 * 10**9),
       tz=st.sampled_from(["UTC", "America/New_York", "Asia/Kolkata", None]))
def test_minute_stamp_is_what_strftime_writes_for_any_moment(ns, tz):
    now = pd.Timestamp(ns, tz="UTC")
    now = now.tz_convert(tz) if tz is not None else now.tz_localize(None)
    assert _minute(now) == f"{now:%Y%m%dT%H%M}"
    assert f"it-{_minute(now)}{now.second:02d}Z" == f"it-{now:%Y%m%dT%H%M%SZ}"
    assert f"at-{_minute(now).replace('T', '')}" == f"at-{now:%Y%m%d%H%M}"


def test_iteration_and_client_order_ids_carry_the_moment_of_the_iteration():
    trader = Trader()  # the embedded default at its fixed simulated moment: the guide's portfolio needs orders
    report = trader.iteration()
    now = trader.now
    assert report.iteration_id == f"it-{now:%Y%m%dT%H%M%SZ}"
    submitted = [o.client_order_id for o in report.outcomes if o.action == "submit"]
    assert submitted and all(c.startswith(f"at-{now:%Y%m%d%H%M}-") for c in submitted)
