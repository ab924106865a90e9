"""The wire format between the hook-tool client and the server (see
docs/jujuc-protocol.md): length-prefixed JSON frames, versioned.

A frame is a 4-byte big-endian unsigned length, then that many bytes of UTF-8
JSON holding one object. The client sends a request frame and reads one
response frame; it may send more requests on the same connection.
"""

from __future__ import annotations

import base64
import binascii
import json
import posixpath
from dataclasses import dataclass

from agent_runtime.errors import AgentRuntimeError
from agent_runtime.uniter.jujuc.cmd import go_quote

__all__ = [
    "HEADER_SIZE",
    "MAX_REQUEST",
    "SUPPORTED_VERSIONS",
    "VERSION",
    "BadRequest",
    "FrameReader",
    "FrameTooLarge",
    "Request",
    "TruncatedFrame",
    "encode_error",
    "encode_request",
    "encode_response",
    "frame",
    "parse_request",
    "unknown_context",
]

#: The protocol version this package speaks (clients send it; responses carry it).
VERSION = 1
#: The request versions the server accepts.
SUPPORTED_VERSIONS = frozenset({1})
#: The size of a frame's length prefix, in bytes.
HEADER_SIZE = 4
#: The default limit on a request frame's body, in bytes (1 MiB).
MAX_REQUEST = 1 << 20
#: How much of a bad value an error message quotes.
_QUOTE_LIMIT = 64


class BadRequest(AgentRuntimeError):
    """A request that was not run; ``str()`` is the error the client shows
    (``bad request: <reason>``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"bad request: {reason}")


class FrameTooLarge(AgentRuntimeError):
    """A frame's length prefix is over the limit."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"bad request: request of {size} bytes is over the limit of {limit} bytes")
        self.size = size
        self.limit = limit


class TruncatedFrame(AgentRuntimeError):
    """The connection ended in the middle of a frame."""


def frame(message: dict) -> bytes:
    """``message`` as one frame (ASCII JSON, compact)."""
    body = json.dumps(message, separators=(",", ":")).encode("ascii")
    return len(body).to_bytes(HEADER_SIZE, "big") + body


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def encode_response(code: int, stdout: bytes, stderr: bytes) -> bytes:
    """The response frame of a request that ran."""
    return frame({"version": VERSION, "code": code, "stdout": _b64(stdout), "stderr": _b64(stderr)})


def encode_error(message: str) -> bytes:
    """The response frame of a request that did not run."""
    return frame({"version": VERSION, "error": message})


def encode_request(
    context: str, dir: str, command: str, args: list[str], stdin: bytes | None = None
) -> bytes:
    """A request frame, as the client builds it (for tests and benchmarks)."""
    message: dict = {
        "version": VERSION,
        "context": context,
        "dir": dir,
        "command": command,
        "args": args,
    }
    if stdin is not None:
        message["stdin"] = _b64(stdin)
    return frame(message)


@dataclass(frozen=True)
class Request:
    """A request that parsed and passed the checks that need no context."""

    version: int
    context: str
    dir: str
    command: str
    args: list[str]
    stdin: bytes | None


def _quoted(text: str) -> str:
    if len(text) > _QUOTE_LIMIT:
        text = text[:_QUOTE_LIMIT] + "..."
    return go_quote(text)


def _string(message: dict, key: str) -> str:
    value = message.get(key, "")
    if not isinstance(value, str):
        raise BadRequest(f'"{key}" must be a string')
    _check_utf8(value, f'"{key}"')
    return value


def _check_utf8(value: str, what: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(f"{what} is not valid UTF-8")


def parse_request(body: bytes) -> Request:
    """Parse and check a request frame's body; raise ``BadRequest``.

    The checks run in the reference's order: the frame, the version, then
    ``command not specified`` and ``Dir is not absolute``. The context id and
    the command name are checked by the server.
    """
    try:
        message = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest("request is not valid UTF-8")
    except (ValueError, RecursionError) as error:
        raise BadRequest(f"request is not valid JSON: {error}")
    if not isinstance(message, dict):
        raise BadRequest("request is not a JSON object")
    version = message.get("version")
    if type(version) is not int:
        raise BadRequest('"version" must be an integer')
    if version not in SUPPORTED_VERSIONS:
        speaks = ", ".join(str(v) for v in sorted(SUPPORTED_VERSIONS))
        raise BadRequest(f"unsupported version {version} (this agent speaks {speaks})")
    context = _string(message, "context")
    dir = _string(message, "dir")
    command = _string(message, "command")
    args = message.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise BadRequest('"args" must be a list of strings')
    for index, arg in enumerate(args):
        _check_utf8(arg, f"argument {index + 1}")
    stdin = message.get("stdin")
    if stdin is not None:
        if not isinstance(stdin, str):
            raise BadRequest('"stdin" must be a base64 string')
        try:
            stdin = base64.b64decode(stdin.encode("ascii"), validate=True)
        except (UnicodeEncodeError, binascii.Error, ValueError):
            raise BadRequest('"stdin" is not valid base64')
    if not command:
        raise BadRequest("command not specified")
    if not posixpath.isabs(dir):
        raise BadRequest("Dir is not absolute")
    if "\0" in dir:
        raise BadRequest(f"Dir {_quoted(dir)} holds a NUL byte")
    return Request(version, context, dir, command, args, stdin)


def unknown_context(context: str) -> BadRequest:
    return BadRequest(f"unknown context {_quoted(context)}")


class FrameReader:
    """Reads frames from a stream socket, at most ``limit`` bytes of body each."""

    __slots__ = ("_buffer", "_limit", "_sock")

    def __init__(self, sock, limit: int = MAX_REQUEST) -> None:
        self._sock = sock
        self._limit = limit
        self._buffer = bytearray()

    def read(self) -> bytes | None:
        """The next frame's body; None when the peer closed between frames.
        Raises ``FrameTooLarge``, ``TruncatedFrame``, or the socket's errors."""
        buffer = self._buffer
        while len(buffer) < HEADER_SIZE:
            if not self._fill():
                if buffer:
                    raise TruncatedFrame("the connection ended in a frame's header")
                return None
        size = int.from_bytes(buffer[:HEADER_SIZE], "big")
        if size > self._limit:
            raise FrameTooLarge(size, self._limit)
        end = HEADER_SIZE + size
        while len(buffer) < end:
            if not self._fill():
                raise TruncatedFrame("the connection ended in a frame's body")
        body = bytes(buffer[HEADER_SIZE:end])
        del buffer[:end]
        return body

    def _fill(self) -> bool:
        chunk = self._sock.recv(65536)
        if not chunk:
            return False
        self._buffer += chunk
        return True
