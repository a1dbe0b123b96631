"""The notebook layer: magics, settings panels, the dashboard and plotly charts.

In a notebook::

    %load_ext activetrader
    from activetrader import Trader
    from activetrader.notebook import Dashboard, BracketPanel
    trader = Trader()
    Dashboard(trader)            # panels, "Run iteration", the log and live charts

Panels and the dashboard display as their ``.widget`` (an ipywidgets ``VBox``); the chart
functions return ``go.Figure`` and update a figure passed as ``fig=`` in place.
"""

from .charts import equity_chart, levels_chart, position_levels_chart, sentiment_chart, weights_chart
from .dashboard import Dashboard
from .magics import load_ipython_extension
from .panels import BracketPanel, HedgePanel, RebalancePanel, SettingsPanel

__all__ = ["load_ipython_extension", "SettingsPanel", "BracketPanel", "HedgePanel", "RebalancePanel",
           "Dashboard", "sentiment_chart", "weights_chart", "levels_chart", "position_levels_chart",
           "equity_chart"]
