"""Unix sockets of an agent: a private directory, stale sockets, peer credentials.

Both the hook-tool server and the report socket of an agent listen in a
directory only the agent's user may enter, and check who connects.
"""

from __future__ import annotations

import os
import socket as _stdlib_socket
import stat
import struct

from gevent import socket

from agent_runtime.errors import AgentRuntimeError

__all__ = [
    "InsecureSocketDir",
    "SocketInUse",
    "peer_credentials",
    "private_directory",
    "remove_stale_socket",
]

_CREDENTIALS = struct.Struct("3i")  # struct ucred: pid, uid, gid


class InsecureSocketDir(AgentRuntimeError):
    """The socket's directory is not a directory only this user can enter."""


class SocketInUse(AgentRuntimeError):
    """Another server answers on the socket path."""


def peer_credentials(sock) -> tuple[int, int, int]:
    """``(pid, uid, gid)`` of the process at the other end of a unix socket,
    as the kernel recorded them when it connected (``SO_PEERCRED``)."""
    data = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CREDENTIALS.size)
    return _CREDENTIALS.unpack(data)


def private_directory(path: str) -> None:
    """Make ``path`` (not its parents) mode 0700, or check that it is a real
    directory owned by this user that nobody else may enter."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    else:
        os.chmod(path, 0o700)  # whatever the umask
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise InsecureSocketDir(f"{path} is not a directory")
    if info.st_uid != os.geteuid():
        raise InsecureSocketDir(f"{path} is owned by uid {info.st_uid}, not by uid {os.geteuid()}")
    if info.st_mode & 0o077:
        raise InsecureSocketDir(
            f"{path} has mode {stat.S_IMODE(info.st_mode):04o}: only its owner may use it (0700)"
        )


def remove_stale_socket(path: str) -> None:
    """Remove a socket file nobody listens on any more (left by an agent that
    died); raise ``SocketInUse`` if a server answers on it, or if ``path`` is
    not a socket."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise SocketInUse(f"{path} exists and is not a socket")
    probe = _stdlib_socket.socket(_stdlib_socket.AF_UNIX, _stdlib_socket.SOCK_STREAM)
    try:
        probe.setblocking(False)  # a live server accepts at once (or EAGAIN: it is there)
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        os.unlink(path)  # nobody listens: a stale socket from an agent that died
        return
    except BlockingIOError:
        pass
    finally:
        probe.close()
    raise SocketInUse(f"another server is listening on {path}")
