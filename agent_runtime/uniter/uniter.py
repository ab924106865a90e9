"""The Uniter: runs a charm's hooks for one unit, one at a time, as the state asks.

It installs, configures and starts the unit; runs config-changed when the
service's config changes; follows each relation of its service through a
hook queue and runs ``<endpoint>-relation-joined|changed|departed|broken``;
and when its unit is dying, leaves every relation, runs ``stop`` and marks
the unit dead (then it stops with ``TerminateAgent``: the agent is done).

One greenlet owns everything here. The watchers and hook queues run as
workers under a Runner of the uniter's own, so that one whose watcher fails
is restarted and the uniter goes on; they talk to the uniter only through its
inbox. A hook queue is always built by the uniter itself, between two hooks,
from the relation's committed state: the start function the Runner calls asks
for one and waits.

What the uniter is doing is kept in ``OpStateFile`` (see ``opstate``), so that
after a crash no committed hook runs twice and an interrupted one runs again.
A failed hook puts the unit in an error state, named in its status, until the
operator says ``resolved`` (skip it) or ``resolved --retry``.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from dataclasses import replace
from typing import Any

import gevent
from gevent.event import Event
from zope.interface import implementer

from agent_runtime.clock import REAL_CLOCK
from agent_runtime.errors import Dying, TerminateAgent
from agent_runtime.interfaces import (
    IAbortableWorker,
    IClock,
    IHookObserver,
    INotifyWatchHandler,
    IReporter,
    IStringsWatchHandler,
)
from agent_runtime.state import DEAD, DYING, NotFound, State
from agent_runtime.uniter.context import ContextRelation, HookContext
from agent_runtime.uniter.hook import Info, Kind
from agent_runtime.uniter.hookobserver import observed
from agent_runtime.uniter.jujuc.contexts import ContextRegistry
from agent_runtime.uniter.jujuc.server import Server
from agent_runtime.uniter.opstate import COMMITTING, DONE, FAILED, PENDING, OpStateFile
from agent_runtime.uniter.paths import UnitPaths
from agent_runtime.uniter.relationer import Relationer
from agent_runtime.uniter.relations import RelationsMixin
from agent_runtime.uniter.runhook import HookFailed, run_hook
from agent_runtime.worker import NotifyWorker, Runner, StringsWorker
from agent_runtime.worker.base import GreenletWorker

__all__ = ["Uniter"]

log = logging.getLogger("agent_runtime.uniter")


@implementer(INotifyWatchHandler)
class _Forward:
    """Follows a notify watcher and posts ``message`` to the uniter on each event."""

    def __init__(self, watch, post, message: str) -> None:
        self._watch, self._post, self._message = watch, post, message

    def set_up(self):
        return self._watch()

    def handle(self) -> None:
        self._post(self._message)

    def tear_down(self) -> None:
        pass


@implementer(IStringsWatchHandler)
class _ForwardStrings(_Forward):
    """Follows a strings watcher and posts ``(message, ids)`` on each event."""

    def handle(self, changes: list[str]) -> None:  # type: ignore[override]
        self._post(self._message, changes)


class _Stopped(Exception):
    """The uniter was killed while it waited; it stops cleanly."""


#: The unit hooks whose commit sets a flag of the agent's state.
_FLAGS = {Kind.INSTALL: "installed", Kind.START: "started", Kind.STOP: "stopped"}


@implementer(IAbortableWorker, IReporter)
class Uniter(RelationsMixin, GreenletWorker):
    """The hook runner of ``unit`` (see the module docstring).

    It runs the hook-tool server (on ``socket_path``, serving the hook contexts
    it registers in ``contexts``) under its own Runner, so that the server
    outlives a hook that is still running when the uniter is asked to stop.
    ``paths`` say where the unit agent keeps its files.
    ``restart_delay`` is the delay of the watchers' and queues' Runner.
    ``clock`` (an ``IClock``) times everything it waits for: that Runner's
    delays, the hook queues' timeouts, the hook runner's progress lines and
    kill grace, and the hook-tool server's shutdown.
    ``hook_observer`` (an ``IHookObserver``) is told of each hook that ran.
    """

    def __init__(
        self,
        state: State,
        unit: str,
        charm_dir: str,
        paths: UnitPaths,
        contexts: ContextRegistry,
        socket_path: str,
        *,
        restart_delay: float = 1.0,
        clock: IClock = REAL_CLOCK,
        hook_observer: IHookObserver | None = None,
    ) -> None:
        super().__init__()
        self.state = state
        self.unit = unit
        self.service = unit.partition("/")[0]
        self.charm_dir = os.path.abspath(charm_dir)
        self.paths = paths
        self._contexts = contexts
        self._socket_path = socket_path
        self._restart_delay = restart_delay
        self._clock = clock
        self._hook_observer = hook_observer
        self._opfile = OpStateFile(paths.opstate)
        self._inbox: deque[tuple[Any, ...]] = deque()
        self._wake = Event()
        self._relations: dict[int, Relationer] = {}
        self._deferred: list[tuple[Any, ...]] = []
        self._defer_queues = True  # while a hook is taken but not committed
        self._unit_dying = False
        self._resolved: str | None = None
        self._last_config: dict[str, Any] | None = None
        self._config_dirty = True  # config-changed runs on every start
        self._workers: Runner | None = None
        self._start()

    # -- messages ---------------------------------------------------------------------

    def _post(self, *message: Any) -> None:
        """Send the uniter a message; from any greenlet, never blocks."""
        self._inbox.append(message)
        self._wake.set()

    def _handle_messages(self) -> None:
        while self._inbox:
            message = self._inbox.popleft()
            kind = message[0]
            if kind == "config":
                self._config_dirty = True
            elif kind == "unit":
                self._read_unit()
            elif kind == "relations":
                for key in message[1]:
                    self._update_relation(key)
            elif kind == "build-queue":
                if self._defer_queues:
                    self._deferred.append(message)
                else:
                    self._build_queue(*message[1:])
        if not self._inbox:
            self._wake.clear()

    # -- the main loop ------------------------------------------------------------------

    def _run(self) -> None:
        self._workers = Runner(
            lambda error: False,
            lambda a, b: False,
            restart_delay=self._restart_delay,
            name=f"{self.unit} watchers",
            clock=self._clock,
        )
        try:
            self._workers.start_worker(
                "hook-tools", lambda: Server(self._socket_path, self._contexts, clock=self._clock)
            )
            self._operate()
        except _Stopped:
            pass  # killed while waiting for the operator: the failure stays recorded
        finally:
            self._workers.kill()
            for message in self._deferred + list(self._inbox):
                if message[0] == "build-queue":
                    message[2].set_exception(Dying("the uniter stopped"))
            try:
                self._workers.wait()
            except Exception as error:
                log.warning("%s: stopping the uniter's watchers: %s", self.unit, error)

    def _operate(self) -> None:
        self._op = self._opfile.read()
        if self._op.stopped:
            self._finish()
        self._set_addresses()
        self._load_relations()
        post = self._post
        self._workers.start_worker(
            "config-watcher",
            lambda: NotifyWorker(
                _Forward(lambda: self.state.watch_service_config(self.service), post, "config")
            ),
        )
        self._workers.start_worker(
            "unit-watcher",
            lambda: NotifyWorker(_Forward(lambda: self.state.watch_unit(self.unit), post, "unit")),
        )
        self._workers.start_worker(
            "relations-watcher",
            lambda: StringsWorker(
                _ForwardStrings(
                    lambda: self.state.watch_service_relations(self.service), post, "relations"
                )
            ),
        )
        self._recover()
        if not self._op.installed:
            self._run_hook(Info(Kind.INSTALL))
        self._build_deferred_queues()
        while True:
            self._handle_messages()
            if self.dying.is_set():
                return
            if self._unit_dying:
                self._leave_relations()
            elif self._config_dirty:
                self._config_dirty = False
                config = self.state.service_config(self.service)
                if config != self._last_config or not self._op.started:
                    self._run_hook(Info(Kind.CONFIG_CHANGED))
                    self._last_config = config
                if not self._op.started:
                    self._run_hook(Info(Kind.START))
                continue
            if self._run_relation_hook():
                continue
            if self._unit_dying and not self._relations:
                self._run_hook(Info(Kind.STOP))
                self._finish()
            waits = [self._wake, self.dying]
            waits += [q.due for r in self._relations.values() if (q := r.current_queue())]
            gevent.wait(waits, count=1)

    def _build_deferred_queues(self) -> None:
        self._defer_queues = False
        deferred, self._deferred = self._deferred, []
        for message in deferred:
            self._build_queue(*message[1:])

    def _recover(self) -> None:
        """Finish what a crash interrupted (see ``opstate``)."""
        op = self._op
        if op.step == PENDING:
            log.info("%s: running the interrupted %s hook again", self.unit, op.hook.kind)
            if op.hook.kind == Kind.CONFIG_CHANGED:
                self._last_config = self.state.service_config(self.service)
            self._run_hook(op.hook)
        elif op.step == COMMITTING:
            log.info("%s: committing the %s hook that succeeded", self.unit, op.hook.kind)
            self._commit(op.hook, self.hook_name(op.hook))
        elif op.step == FAILED:
            self._run_hook(op.hook, failed=True)

    def _finish(self) -> None:
        """The unit has stopped: mark it dead and remove it; the agent's work is done."""
        self.state.ensure_dead(self.unit)
        try:
            self.state.remove_unit(self.unit)
        except NotFound:
            pass
        raise TerminateAgent(f"unit {self.unit} is dead")

    # -- the unit ------------------------------------------------------------------------

    def _set_addresses(self) -> None:
        unit = self.state.unit(self.unit)
        if unit.private_address is None or unit.public_address is None:
            self.state.set_unit_addresses(
                self.unit, public=self.paths.public_address, private=self.paths.private_address
            )

    def _read_unit(self) -> None:
        try:
            unit = self.state.unit(self.unit)
        except NotFound:
            self._unit_dying = True
            return
        if unit.life in (DYING, DEAD):
            self._unit_dying = True
        self._resolved = unit.resolved

    # -- running and committing hooks --------------------------------------------------------

    def hook_name(self, info: Info) -> str:
        if info.kind.is_relation():
            return self._relations[info.relation_id].hook_name(info)
        return str(info.kind)

    def _context(self, info: Info) -> HookContext:
        relations = {
            rid: ContextRelation(self.state, rid, r.endpoint, self.unit, r.members_for(info))
            for rid, r in self._relations.items()
        }
        return HookContext(self.state, self.unit, relations, info.relation_id, info.remote_unit)

    def _environment(self, info: Info, context_id: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            APT_LISTCHANGES_FRONTEND="none",
            DEBIAN_FRONTEND="noninteractive",
            PATH=os.pathsep.join([self.paths.tools, env.get("PATH", os.defpath)]),
            CHARM_DIR=self.charm_dir,
            JUJU_CONTEXT_ID=context_id,
            JUJU_AGENT_SOCKET=self._socket_path,
            JUJU_UNIT_NAME=self.unit,
            JUJU_ENV_NAME=str(self.state.environ_config().get("name", "")),
            AGENT_RUNTIME_CHARM_DATA=self.paths.charm_data,
        )
        for name in ("JUJU_RELATION", "JUJU_RELATION_ID", "JUJU_REMOTE_UNIT"):
            env.pop(name, None)
        if info.kind.is_relation():
            relationer = self._relations[info.relation_id]
            env.update(
                JUJU_RELATION=relationer.endpoint,
                JUJU_RELATION_ID=relationer.fake_id,
                JUJU_REMOTE_UNIT=info.remote_unit,
            )
        return env

    def _run_hook(self, info: Info, failed: bool = False) -> None:
        """Run a hook and commit it; on failure, wait for the operator."""
        name = self.hook_name(info)
        while True:
            if not failed:
                self._save(PENDING, info)
                self._set_status("executing", f'running "{name}" hook', hook=name)
                context = self._context(info)
                context_id = self._contexts.register(context)
                try:
                    log.info("%s: running %s hook", self.unit, name)
                    env = self._environment(info, context_id)
                    with observed(self._hook_observer, self.unit, info.kind) as hook:
                        hook.ran = run_hook(self.charm_dir, name, env, self.unit, clock=self._clock)
                except HookFailed as error:
                    log.error("%s: %s", self.unit, error)
                    failed = True
                finally:
                    self._contexts.revoke(context_id)
                if not failed:
                    context.flush()
                    self._commit(info, name)
                    self._build_deferred_queues()
                    return
                self._save(FAILED, info)
            self._set_status("error", f'hook "{name}" failed', hook=name)
            answer = self._wait_resolved(name)
            if answer == "skip":
                log.info("%s: resolved: skipping the failed %s hook", self.unit, name)
                self._commit(info, name)
                self._build_deferred_queues()
                return
            log.info("%s: resolved: running the %s hook again", self.unit, name)
            failed = False

    def _wait_resolved(self, hook: str) -> str:
        """Block until the operator resolves the failed hook; return "retry" or
        "skip". Raises ``Dying`` if the uniter is killed meanwhile."""
        self._read_unit()
        if self._resolved is not None:
            self.state.clear_resolved(self.unit)
        self._resolved = None
        log.warning('%s: hook "%s" failed: waiting for "resolved"', self.unit, hook)
        self._defer_queues = True  # the failed hook was taken but is not committed
        while True:
            gevent.wait([self._wake, self.dying], count=1)
            if self.dying.is_set():
                raise _Stopped()
            self._handle_messages()
            if self._resolved is not None:
                answer, self._resolved = self._resolved, None
                self.state.clear_resolved(self.unit)
                return answer

    def _commit(self, info: Info, name: str) -> None:
        self._save(COMMITTING, info)
        if info.kind.is_relation():
            relationer = self._relations[info.relation_id]
            relationer.statedir.write(info)
            if info.kind == Kind.RELATION_BROKEN:
                self.state.leave_scope(info.relation_id, self.unit)
                self._workers.stop_worker(relationer.worker_id)
                del self._relations[info.relation_id]
                log.info("%s: left relation %s", self.unit, relationer.key)
        elif info.kind in _FLAGS:
            self._op = replace(self._op, **{_FLAGS[info.kind]: True})
        self._save(DONE, info)
        if self._op.started and not self._unit_dying:
            self._set_status("active", "", hook=name)

    def _save(self, step: str, info: Info) -> None:
        self._op = self._op.with_step(step, info)
        self._opfile.write(self._op)

    def _set_status(self, status: str, message: str, **data: Any) -> None:
        try:
            self.state.set_unit_status(self.unit, status, message, **data)
        except NotFound:
            pass

    def report(self) -> dict[str, Any]:
        """The unit, the hook it runs or ran last (and at which step), its
        relations, and the report of the Runner of its watchers and queues."""
        op = getattr(self, "_op", None)
        report: dict[str, Any] = {
            "unit": self.unit,
            "relations": {
                r.fake_id: {"key": r.key, "dying": r.dying}
                for r in sorted(self._relations.values(), key=lambda r: r.relation_id)
            },
        }
        if op is not None:
            report.update(installed=op.installed, started=op.started, step=op.step)
            if op.hook is not None:
                report["hook"] = self.hook_name_or_kind(op.hook)
        if self._workers is not None:
            report["workers"] = self._workers.report()
        return report

    def hook_name_or_kind(self, info: Info) -> str:
        try:
            return self.hook_name(info)
        except KeyError:  # a relation the uniter has left
            return str(info.kind)

    def __repr__(self) -> str:
        return f"<Uniter {self.unit}>"
