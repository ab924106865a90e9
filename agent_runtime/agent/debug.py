"""What a running agent says of itself on request, for debugging a live process.

``SIGUSR2`` makes an agent log every greenlet's stack (gevent's
``format_run_info``: the greenlet tree, each one's spawn site and current
frame) at WARNING, without stopping anything: the first thing to ask an agent
that seems stuck waiting for something.
"""

from __future__ import annotations

import logging
import signal

import gevent
from gevent.util import format_run_info

__all__ = ["DUMP_SIGNAL", "dump_greenlets", "install_dump_handler"]

log = logging.getLogger("agent_runtime.debug")

#: The signal that asks for the dump.
DUMP_SIGNAL = signal.SIGUSR2


def dump_greenlets() -> str:
    """Every greenlet's stack and the threads', as text; also logged at WARNING."""
    text = "\n".join(format_run_info())
    log.warning("greenlets and threads, on request:\n%s", text)
    return text


def install_dump_handler():
    """Log every greenlet's stack on ``DUMP_SIGNAL``; returns the handler (cancel it
    to uninstall)."""
    return gevent.signal_handler(DUMP_SIGNAL, dump_greenlets)
