"""The dependency engine (juju's ``worker/dependency``).

An ``Engine`` runs one worker per installed ``Manifold``. A manifold names
its inputs (other manifolds), starts its worker from what they offer, and
offers dependents resources of its own; whenever a worker starts or stops,
the engine restarts ("bounces") the workers that declared it as an input, so
each always runs against what its inputs are now. See docs/dependency.md.
"""

from agent_runtime.worker.dependency.config import EngineConfig
from agent_runtime.worker.dependency.context import Context
from agent_runtime.worker.dependency.engine import ABORT_GRACE, Engine
from agent_runtime.worker.dependency.errors import (
    Bounce,
    DependencyCycle,
    ErrBounce,
    ErrMissing,
    ErrUninstall,
    ExpiredContext,
    Missing,
    ShuttingDown,
    Uninstall,
)
from agent_runtime.worker.dependency.manifold import Manifold, install, validate

__all__ = [
    "ABORT_GRACE",
    "Bounce",
    "Context",
    "DependencyCycle",
    "Engine",
    "EngineConfig",
    "ErrBounce",
    "ErrMissing",
    "ErrUninstall",
    "ExpiredContext",
    "Manifold",
    "Missing",
    "ShuttingDown",
    "Uninstall",
    "install",
    "validate",
]
