"""jujuc: the hook-tool client.

Charm hooks run hook tools (``relation-get``, ``config-get``, ...) as
commands; each is a symlink to this program, which forwards the call to the
unit agent and prints what comes back:

* the tool is the name it was called by (``argv[0]``), or its first argument
  when called as ``jujuc TOOL ARGS...``;
* it sends the tool, its arguments, the working directory, the context id
  (``JUJU_CONTEXT_ID``) and, for ``relation-set --file -`` only, its stdin,
  to the agent's socket (``JUJU_AGENT_SOCKET``), one length-prefixed JSON
  frame (docs/jujuc-protocol.md);
* it writes the stdout, then the stderr of the response and exits with the
  tool's exit code. Its own failures print ``error: <message>`` and exit 1.

Every hook-tool call pays this program's start-up, so it imports nothing but
interpreter built-ins and C modules of the standard library (no ``json``,
``socket`` or ``os``: they import ``re``/``enum``, several milliseconds), and
nothing of agent_runtime. ``install_tools`` (``agent_runtime.uniter.jujuc``)
installs it as a standalone script run by ``python -I -S``.
"""

import sys

VERSION = 1
HEADER_SIZE = 4

USAGE = """usage: jujuc TOOL [ARGS...]

jujuc forwards the invocation of a hook tool to the unit agent running the
hook: over the unix socket named by JUJU_AGENT_SOCKET, for the hook context
named by JUJU_CONTEXT_ID. Hooks call it through a symlink named after the
tool: close-port, config-get, juju-log, open-port, owner-get, relation-get,
relation-ids, relation-list, relation-set, unit-get.
"""

#: Names under which the program is itself rather than a tool.
_DIRECT_NAMES = ("jujuc", "jujuc.py", "client.py", "__main__.py")


class ClientError(Exception):
    """A failure of the client itself (not of the tool): ``error: <message>``, exit 1."""


def main(argv=None):
    """Run the tool named by ``argv`` (default ``sys.argv``); return the exit code."""
    if argv is None:
        argv = sys.argv
    name = argv[0].rpartition("/")[2]
    args = list(argv[1:])
    if name in _DIRECT_NAMES:
        if not args or args[0].startswith("-"):
            _write(2, (USAGE + "error: jujuc should not be called directly\n").encode())
            return 2
        name, args = args[0], args[1:]
    try:
        code, stdout, stderr = call(name, args)
    except (ClientError, OSError, ValueError) as error:
        _write(2, f"error: {_message(error)}\n".encode("utf-8", "surrogateescape"))
        return 1
    _write(1, stdout)
    _write(2, stderr)
    return code


def call(name, args, environ=None, cwd=None, stdin=None):
    """Run hook tool ``name`` with ``args`` through the agent; return
    ``(code, stdout, stderr)``. Raises ClientError or OSError."""
    import posix

    if environ is None:
        environ = posix.environ
    context = _getenv(environ, "JUJU_CONTEXT_ID")
    if cwd is None:
        cwd = posix.getcwd()
    socket_path = _getenv(environ, "JUJU_AGENT_SOCKET")
    if stdin is None and wants_stdin(name, args):
        stdin = _read_all(0)
    request = encode_request(context, cwd, name, args, stdin)
    response = _exchange(socket_path, request)
    error = response.get("error")
    if error is not None:
        raise ClientError(str(error))
    try:
        import binascii

        code = response["code"]
        stdout = binascii.a2b_base64(response.get("stdout", ""))
        stderr = binascii.a2b_base64(response.get("stderr", ""))
    except (KeyError, TypeError, ValueError):
        raise ClientError("the agent sent a response this client does not understand")
    if type(code) is not int:
        raise ClientError("the agent sent a response this client does not understand")
    return code, stdout, stderr


def wants_stdin(name, args):
    """Whether the tool reads stdin: ``relation-set --file -`` (or ``--file=-``)."""
    if name != "relation-set":
        return False
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            return False
        if arg == "--file=-":
            return True
        if arg == "--file":
            if i < len(args) and args[i] == "-":
                return True
            i += 1
        elif arg in ("-r", "--format"):
            i += 1  # their value is not a flag
    return False


def _getenv(environ, name):
    value = environ.get(name) or environ.get(name.encode())
    if not value:
        raise ClientError(f"{name} not set")
    if isinstance(value, bytes):
        value = value.decode("utf-8", "surrogateescape")
    return value


def encode_request(context, cwd, name, args, stdin=None):
    """The request frame (see docs/jujuc-protocol.md)."""
    try:
        from _json import encode_basestring_ascii as quote
    except ImportError:  # an interpreter without the C accelerator
        from json.encoder import encode_basestring_ascii as quote
    arguments = ",".join(quote(a) for a in args)
    parts = [
        f'{{"version":{VERSION},"context":{quote(context)},"dir":{quote(cwd)},'
        f'"command":{quote(name)},"args":[{arguments}]'
    ]
    if stdin is not None:
        import binascii

        parts.append(f',"stdin":"{binascii.b2a_base64(stdin, newline=False).decode()}"')
    parts.append("}")
    body = "".join(parts).encode("ascii")
    return len(body).to_bytes(HEADER_SIZE, "big") + body


def _exchange(socket_path, request):
    import _socket

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        try:
            sock.connect(socket_path)
        except OSError as error:
            raise ClientError(f"cannot connect to the agent at {socket_path}: {_message(error)}")
        try:
            sock.sendall(request)
        except OSError as error:
            # The agent may have answered and closed (a refusal, a request too
            # large): read what it sent before reporting the failure to send.
            try:
                return decode_response(_read_frame(sock))
            except Exception:
                raise error from None
        return decode_response(_read_frame(sock))
    finally:
        sock.close()


def _read_frame(sock):
    header = _recv_exactly(sock, HEADER_SIZE)
    return _recv_exactly(sock, int.from_bytes(header, "big"))


def _recv_exactly(sock, size):
    chunks = []
    while size > 0:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            raise ClientError("the agent closed the connection without a response")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


class _ScanContext:
    """What ``_json.make_scanner`` reads off ``json.JSONDecoder``."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int

    @staticmethod
    def parse_constant(name):
        raise ValueError(f"unexpected JSON constant {name}")

    memo = None


def decode_response(body):
    """A response frame's body as a dict."""
    try:
        text = body.decode("utf-8")
        try:
            from _json import make_scanner

            message, end = make_scanner(_ScanContext())(text, 0)
            if text[end:].strip():
                raise ValueError("extra data")
        except ImportError:
            import json

            message = json.loads(text)
    except (ValueError, StopIteration):
        raise ClientError("the agent sent a response that is not JSON")
    if not isinstance(message, dict):
        raise ClientError("the agent sent a response that is not a JSON object")
    return message


def _read_all(fd):
    import posix

    chunks = []
    while True:
        chunk = posix.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _write(fd, data):
    import posix

    view = memoryview(data)
    try:
        while view:
            view = view[posix.write(fd, view) :]
    except OSError:
        pass  # nobody reads (a closed pipe): what is left is lost, as in Go


def _message(error):
    if isinstance(error, OSError) and error.strerror:
        return error.strerror if error.filename is None else f"{error.filename}: {error.strerror}"
    return str(error)


if __name__ == "__main__":
    sys.exit(main())
