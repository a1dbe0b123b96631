"""The base of every panel and of the dashboard: a widget that is a view of a trader.

A :class:`WidgetView` *is* an ipywidgets ``VBox``, so it goes anywhere a widget goes
(``HBox([BracketPanel(t), HedgePanel(t)])``, ``Tab(children=[...])``, ``display(panel)``).
On top of the box it owns the widgets it built and, usually, a settings subscription;
``close()`` ends both, and never touches the trader or its settings.

>>> import ipywidgets as W
>>> from activetrader import Trader
>>> from activetrader.notebook import BracketPanel, HedgePanel
>>> trader = Trader()
>>> row = W.HBox([BracketPanel(trader), HedgePanel(trader)])
>>> row.children[0].widgets["bracket.stop_loss_pct"].value = 0.03     # still a working panel
>>> trader.settings.bracket.stop_loss_pct
0.03
>>> for panel in row.children:
...     panel.close()
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from copy import deepcopy
from typing import Any

import ipywidgets as W

__all__ = ["WidgetView", "keep_view_state"]


class WidgetView(W.VBox):
    """A ``VBox`` that owns its inner widgets (``_own``), the views it is made of (``_views``)
    and a settings subscription (``_unsubscribe``); ``close()`` ends them all.

    Subclasses build their children, then assign ``self.children``. Widget traits the
    subclass must not shadow: ``log``, ``keys``, ``open``, ``send``, ``layout``,
    ``children`` (hence the dashboard's ``iteration_log``, not ``log``).
    """

    #: Class-level defaults so that ``close()`` (which ipywidgets also calls from ``__del__``)
    #: works on a view whose ``__init__`` failed half-way.
    _own: Iterable[W.Widget] = ()
    _views: Iterable[WidgetView] = ()
    _unsubscribe: Callable[[], None] | None = None

    @property
    def widget(self) -> WidgetView:
        """The view itself (panels used to *have* a box here; code written then keeps working)."""
        return self

    def close(self) -> None:
        """Stop following the settings and close the widgets (settings and trader are untouched)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for view in self._views:
            view.close()
        for w in self._own:
            w.close()
        super().close()


def keep_view_state(fig: Any) -> Any:
    """Store a FigureWidget's current figure as its widget state, as plotly's own
    ``FigureWidget._repr_mimebundle_`` does before a display; returns ``fig``.

    In-place updates reach open views only as deltas; a view opened later (a Voila page
    loading after the cell ran, or the figure displayed inside a box, which never calls the
    figure's own repr) renders from this state, which would otherwise still be the figure as
    it was constructed.
    """
    fig._widget_layout = deepcopy(fig._layout_obj._props)
    fig._widget_data = deepcopy(fig._data)
    return fig
