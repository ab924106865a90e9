"""SIGUSR2 makes an agent log every greenlet's stack, and nothing stops."""

from __future__ import annotations

import logging
import os

import gevent
from gevent.event import Event

from agent_runtime.agent.debug import DUMP_SIGNAL, dump_greenlets, install_dump_handler
from agent_runtime.testing import wait_for


def parked_in_a_recognisable_frame(release: Event) -> None:
    release.wait(timeout=10)


def test_the_dump_shows_a_waiting_greenlet_where_it_waits(caplog):
    release = Event()
    parked = gevent.spawn(parked_in_a_recognisable_frame, release)
    gevent.sleep(0)
    try:
        with caplog.at_level(logging.WARNING, logger="agent_runtime.debug"):
            text = dump_greenlets()
        assert "parked_in_a_recognisable_frame" in text
        assert "parked_in_a_recognisable_frame" in caplog.text
    finally:
        release.set()
        parked.join(timeout=10)


def test_the_signal_logs_the_dump_and_the_process_goes_on(caplog):
    release = Event()
    parked = gevent.spawn(parked_in_a_recognisable_frame, release)
    handler = install_dump_handler()
    try:
        with caplog.at_level(logging.WARNING, logger="agent_runtime.debug"):
            os.kill(os.getpid(), DUMP_SIGNAL)
            wait_for(lambda: "parked_in_a_recognisable_frame" in caplog.text, what="the dump")
        assert not parked.dead
    finally:
        handler.cancel()
        release.set()
        parked.join(timeout=10)
