"""RunnerObserver: a do-nothing base for the Runner's restart hooks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from zope.interface import implementer

from agent_runtime.interfaces import IRunnerObserver

if TYPE_CHECKING:
    from agent_runtime.worker.runner import Runner

__all__ = ["RunnerObserver"]


@implementer(IRunnerObserver)
class RunnerObserver:
    """An observer that does nothing: subclass it and override what you need."""

    def started(self, runner: Runner, id: str) -> None:
        pass

    def exited(self, runner: Runner, id: str, error: BaseException | None) -> None:
        pass

    def restart_scheduled(self, runner: Runner, id: str, delay: float) -> None:
        pass

    def gave_up(self, runner: Runner, id: str, error: BaseException) -> None:
        pass

    def fatal(self, runner: Runner, id: str, error: BaseException) -> None:
        pass
