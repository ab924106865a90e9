"""The unit agent: a Runner with the uniter (which runs the hook-tool server).

``unit_agent(...)`` builds it; ``agent-runtime unit`` serves it as the main
job of a process. The uniter stops with ``TerminateAgent`` once its unit is
dead, which stops the agent with exit code 0; an unreadable agent state file
stops it with that error; any other failure of a worker restarts it after the
restart delay.

One clock (``clock=``, an ``IClock``) times everything the agent waits for:
its Runner's restart delays and grace period, and everything the uniter
builds (see ``Uniter``). The ``State`` is opened by the caller; a SQLite
state polls on the clock given to ``agent_runtime.state.open``.
"""

from __future__ import annotations

import socket

from agent_runtime.clock import REAL_CLOCK
from agent_runtime.errors import TerminateAgent
from agent_runtime.interfaces import IClock, IHookObserver
from agent_runtime.state import State
from agent_runtime.uniter.jujuc.contexts import ContextRegistry
from agent_runtime.uniter.jujuc.tools import install_tools
from agent_runtime.uniter.opstate import OpStateError
from agent_runtime.uniter.paths import UnitPaths, guess_private_address
from agent_runtime.uniter.uniter import Uniter
from agent_runtime.worker import Runner

__all__ = ["unit_agent"]


def _is_fatal(error: BaseException) -> bool:
    # A unit that is dead, or an agent state file that cannot be read (restarting
    # cannot mend it: the operator must look), stops the agent.
    return isinstance(error, (TerminateAgent, OpStateError))


def _more_important(error: BaseException, other: BaseException) -> bool:
    return isinstance(error, TerminateAgent) and not isinstance(other, TerminateAgent)


def unit_agent(
    state: State,
    unit: str,
    charm_dir: str,
    data_dir: str,
    *,
    private_address: str | None = None,
    public_address: str | None = None,
    restart_delay: float = 3.0,
    stop_timeout: float | None = 10.0,
    hook_observer: IHookObserver | None = None,
    clock: IClock = REAL_CLOCK,
) -> Runner:
    """Build the agent of ``unit`` (which must exist in ``state``), running the
    charm in ``charm_dir`` and keeping its files under ``data_dir``; its
    uniter tells ``hook_observer`` of each hook it runs. Every delay and
    timeout of the agent runs on ``clock``."""
    paths = UnitPaths(
        data_dir,
        unit,
        private_address=private_address or guess_private_address(),
        public_address=public_address or socket.getfqdn(),
    )
    paths.ensure()
    install_tools(paths.tools)
    contexts = ContextRegistry()
    runner = Runner(
        _is_fatal,
        _more_important,
        restart_delay=restart_delay,
        stop_timeout=stop_timeout,
        name=f"unit agent {unit}",
        clock=clock,
    )
    # The agent's presence: `status` shows the agent as up while this runs.
    runner.start_worker("presence", lambda: state.agent_presence(unit))
    runner.start_worker(
        "uniter",
        lambda: Uniter(
            state,
            unit,
            charm_dir,
            paths,
            contexts,
            paths.socket,
            restart_delay=min(restart_delay, 1.0),
            hook_observer=hook_observer,
            clock=clock,
        ),
    )
    return runner
