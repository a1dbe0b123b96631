"""Live operation on top of the Trader: the run loop, restart recovery, the streaming monitor.

``trader.run(every="1h")`` starts a :class:`LiveRun` in the background and returns it;
``activetrader live`` runs one in the foreground. The core never imports this package.
"""

import logging

from .loop import LiveRun, parse_every
from .recovery import Recovery, recover

# A library logs, the application decides where to: without a handler of the caller's, nothing
# is printed (the CLI adds one; a notebook reads ``run.log`` or configures logging).
logging.getLogger("activetrader.live").addHandler(logging.NullHandler())

__all__ = ["LiveRun", "Recovery", "parse_every", "recover"]
