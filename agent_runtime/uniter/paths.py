"""Where a unit agent keeps its files, and the addresses it gives its unit."""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
from dataclasses import dataclass

__all__ = ["UnitPaths", "guess_private_address"]


def guess_private_address() -> str:
    """This machine's address on its default route (no packet is sent), or
    127.0.0.1 when it has none."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.254.254.254", 1))
        return probe.getsockname()[0]
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()


@dataclass(frozen=True)
class UnitPaths:
    """The files of the agent of one unit, under ``<data_dir>/units/<svc>-<n>/``:

    * ``state/uniter.yaml``: what the agent is doing (``opstate``);
    * ``state/relations/``: the committed state of each relation;
    * ``tools/``: the hook tools, first on every hook's PATH;
    * ``<data_dir>/charm-data/``: where the example charms keep their files
      (``$AGENT_RUNTIME_CHARM_DATA`` in the hooks' environment).

    The hook-tool socket lives in a short private directory under the system's
    temporary directory (a unix socket path holds at most 107 bytes).
    """

    data_dir: str
    unit: str
    private_address: str = "127.0.0.1"
    public_address: str = "localhost"

    @property
    def base(self) -> str:
        service, _, number = self.unit.partition("/")
        return os.path.join(self.data_dir, "units", f"{service}-{number}")

    @property
    def opstate(self) -> str:
        return os.path.join(self.base, "state", "uniter.yaml")

    @property
    def relations(self) -> str:
        return os.path.join(self.base, "state", "relations")

    @property
    def tools(self) -> str:
        return os.path.join(self.base, "tools")

    @property
    def charm_data(self) -> str:
        return os.path.join(self.data_dir, "charm-data")

    @property
    def socket(self) -> str:
        """The hook-tool server's socket."""
        return self._short_socket("sock")

    @property
    def report_socket(self) -> str:
        """Where the agent answers ``agent-runtime report``."""
        return self._short_socket("report")

    def _short_socket(self, suffix: str) -> str:
        digest = hashlib.sha256(os.path.abspath(self.base).encode()).hexdigest()[:16]
        directory = os.path.join(tempfile.gettempdir(), f"agent-runtime-{os.geteuid()}")
        return os.path.join(directory, f"{digest}.{suffix}")

    def ensure(self) -> None:
        """Create the agent's directories (not the socket's: the server does)."""
        for path in (os.path.dirname(self.opstate), self.tools, self.charm_data):
            os.makedirs(path, exist_ok=True)
