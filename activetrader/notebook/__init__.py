"""The notebook layer: magics, settings panels, the dashboard and plotly charts.

In a notebook::

    %load_ext activetrader
    from activetrader import Trader
    from activetrader.notebook import Dashboard, BacktestPanel, BracketPanel
    trader = Trader()
    Dashboard(trader)            # a "Live" tab (panels, "Run iteration", log, charts) and a "Backtest" tab
    BacktestPanel(trader)        # settings, dates, "Run backtest", equity chart and stats

Panels, the backtest panel and the dashboard are ipywidgets (``VBox``es): display them or put
them in any layout. The chart functions return ``go.Figure`` and update a figure passed as
``fig=`` in place.
"""

from .backtest_panel import BacktestPanel
from .charts import equity_chart, levels_chart, position_levels_chart, sentiment_chart, weights_chart
from .dashboard import Dashboard
from .magics import load_ipython_extension
from .panels import BracketPanel, HedgePanel, RebalancePanel, SettingsPanel
from .run_control import RunControl

__all__ = ["load_ipython_extension", "SettingsPanel", "BracketPanel", "HedgePanel", "RebalancePanel",
           "Dashboard", "BacktestPanel", "sentiment_chart", "weights_chart", "levels_chart", "position_levels_chart",
           "equity_chart", "RunControl"]
