"""The hook-tool client, run as a real process against a real server: what
a hook sees (stdout, stderr, exit codes, --output files, stdin), the client's
own errors, and the installed tools."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from gevent import subprocess
from jujuc_support import make_context, serving, short_tempdir

from agent_runtime.testing import LONG_WAIT
from agent_runtime.uniter.jujuc import ContextRegistry, command_names, install_tools
from agent_runtime.uniter.jujuc.tools import _header


@pytest.fixture
def base():
    with short_tempdir() as path:
        yield Path(path)


@pytest.fixture
def tools(base):
    install_tools(base / "tools")
    return base / "tools"


@pytest.fixture
def agent():
    """A server with one registered context (a relation hook of peer1:1)."""
    registry = ContextRegistry()
    ctx = make_context(1, "m/0")
    ctx.relations[1].units["m/0"] = {"pew": "pew\npew\n"}
    token = registry.register(ctx)
    with serving(registry) as server:
        yield server, token, ctx


def _env(agent, **changes):
    server, token, _ = agent
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    env.update(JUJU_AGENT_SOCKET=server.socket_path, JUJU_CONTEXT_ID=token)
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def tool(agent, program, *args, cwd="/", input=None, env=None):
    """Run ``program`` (a path, or [argv...]) as a hook would; never outlives the test."""
    argv = list(program) if isinstance(program, list | tuple) else [str(program)]
    return subprocess.run(
        argv + list(args),
        env=env if env is not None else _env(agent),
        cwd=str(cwd),
        input=input,
        capture_output=True,
        timeout=LONG_WAIT,
    )


def _result(process):
    return process.returncode, process.stdout, process.stderr


def test_install_tools(tools):
    assert sorted(p.name for p in tools.iterdir() if p.is_symlink()) == command_names()
    for name in command_names():
        assert os.readlink(tools / name) == "jujuc"
    launcher = tools / "jujuc"
    assert os.access(launcher, os.X_OK)
    assert launcher.read_text().startswith(f"#!{os.path.abspath(sys.executable)} -IS\n")
    assert (tools / "_jujuc_client.py").exists()
    assert list((tools / "__pycache__").glob("_jujuc_client.*.pyc"))  # compiled once
    install_tools(tools)  # again: harmless
    assert sorted(p.name for p in tools.iterdir() if p.is_symlink()) == command_names()


def test_unit_get(agent, tools):
    assert _result(tool(agent, tools / "unit-get", "private-address")) == (
        0,
        b"192.168.0.99\n",
        b"",
    )


def test_relation_get_in_a_relation_hook(agent, tools):
    assert _result(tool(agent, tools / "relation-get")) == (0, b"pew: 'pew\n\n  pew\n\n'\n", b"")
    assert _result(tool(agent, tools / "relation-get", "--format=json", "pew")) == (
        0,
        b'"pew\\npew\\n"\n',
        b"",
    )


def test_usage_and_run_errors(agent, tools):
    assert _result(tool(agent, tools / "relation-get", "-r", "x")) == (
        2,
        b"",
        b'error: invalid value "x" for flag -r: invalid relation id\n',
    )
    assert _result(tool(agent, tools / "relation-get", "pew", "bad/0")) == (
        1,
        b"",
        b"error: unknown unit bad/0\n",
    )


def test_help(agent, tools):
    code, stdout, stderr = _result(tool(agent, tools / "config-get", "--help"))
    assert (code, stderr) == (0, b"")
    assert stdout.startswith(b"usage: config-get [options] [<key>]\n")


def test_output_file_relative_to_the_hooks_directory(agent, tools, base):
    (base / "charm").mkdir()
    result = tool(agent, tools / "config-get", "-o", "out.txt", "title", cwd=base / "charm")
    assert _result(result) == (0, b"", b"")
    assert (base / "charm" / "out.txt").read_text() == "My Title\n"


def test_relation_set_from_stdin(agent, tools):
    _, _, ctx = agent
    result = tool(agent, tools / "relation-set", "--file", "-", "b=2", input=b"a: 1\nb: 1\n")
    assert _result(result) == (0, b"", b"")
    assert ctx.relations[1].local.map()["a"] == "1"
    assert ctx.relations[1].local.map()["b"] == "2"


def test_relation_set_from_a_file(agent, tools, base):
    _, _, ctx = agent
    (base / "value.txt").write_text("from a file\n")
    assert _result(tool(agent, tools / "relation-set", "-r", "0", "v=@value.txt", cwd=base)) == (
        0,
        b"",
        b"",
    )
    assert ctx.relations[0].local.map()["v"] == "from a file\n"


def test_stdin_is_not_read_by_tools_that_do_not_need_it(agent, tools):
    process = subprocess.Popen(
        [str(tools / "relation-set"), "a=b"],
        env=_env(agent),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        # stdin stays open: a client that read it would never finish.
        assert process.wait(timeout=LONG_WAIT) == 0
    finally:
        process.kill()
        process.communicate()
    assert agent[2].relations[1].local.map()["a"] == "b"


def test_oversized_stdin_is_refused(agent, tools):
    result = tool(agent, tools / "relation-set", "--file", "-", input=b"a: " + b"x" * (1 << 20))
    assert result.returncode == 1
    assert result.stderr.startswith(b"error: bad request: request of ")
    assert b"over the limit of 1048576 bytes" in result.stderr


def test_non_utf8_arguments_are_refused(agent, tools):
    result = tool(agent, [os.fsencode(tools / "relation-set"), b"key=\xff"])
    assert _result(result) == (1, b"", b"error: bad request: argument 1 is not valid UTF-8\n")
    assert "key" not in agent[2].relations[1].local.map()


def test_missing_environment(agent, tools):
    env = _env(agent, JUJU_CONTEXT_ID=None)
    assert _result(tool(agent, tools / "unit-get", "private-address", env=env)) == (
        1,
        b"",
        b"error: JUJU_CONTEXT_ID not set\n",
    )
    env = _env(agent, JUJU_AGENT_SOCKET="")
    assert _result(tool(agent, tools / "unit-get", "private-address", env=env)) == (
        1,
        b"",
        b"error: JUJU_AGENT_SOCKET not set\n",
    )


def test_no_agent_listening(agent, tools, base):
    env = _env(agent, JUJU_AGENT_SOCKET=str(base / "nothing.sock"))
    code, stdout, stderr = _result(tool(agent, tools / "unit-get", "private-address", env=env))
    assert (code, stdout) == (1, b"")
    assert stderr == f"error: cannot connect to the agent at {base / 'nothing.sock'}: ".encode() + (
        b"No such file or directory\n"
    )


def test_unknown_context(agent, tools):
    env = _env(agent, JUJU_CONTEXT_ID="forged")
    assert _result(tool(agent, tools / "unit-get", "private-address", env=env)) == (
        1,
        b"",
        b'error: bad request: unknown context "forged"\n',
    )


@pytest.mark.parametrize("args", [[], ["--help"]])
def test_called_directly(agent, tools, args):
    code, stdout, stderr = _result(tool(agent, tools / "jujuc", *args))
    assert (code, stdout) == (2, b"")
    assert stderr.startswith(b"usage: jujuc TOOL [ARGS...]\n")
    assert stderr.endswith(b"\nerror: jujuc should not be called directly\n")


def test_jujuc_tool_form(agent, tools):
    assert _result(tool(agent, tools / "jujuc", "unit-get", "public-address")) == (
        0,
        b"gimli.minecraft.testing.invalid\n",
        b"",
    )
    assert _result(tool(agent, tools / "jujuc", "bogus")) == (
        1,
        b"",
        b"error: bad request: unknown command: bogus\n",
    )


def test_the_client_module_runs_as_a_program(agent):
    argv = [
        sys.executable,
        "-m",
        "agent_runtime.uniter.jujuc.client",
        "unit-get",
        "private-address",
    ]
    assert _result(tool(agent, argv)) == (0, b"192.168.0.99\n", b"")


def test_console_script(agent):
    script = Path(sys.executable).parent / "jujuc"
    if not script.exists():
        pytest.skip(f"{script} is not installed (pip install -e . installs it)")
    assert _result(tool(agent, script, "unit-get", "private-address")) == (
        0,
        b"192.168.0.99\n",
        b"",
    )


def test_the_client_imports_no_python_modules_of_weight(agent, tools):
    # -X importtime lists every import; -IS as the launcher's own #! line.
    argv = [sys.executable, "-IS", "-X", "importtime", str(tools / "jujuc"), "unit-get"]
    code, stdout, stderr = _result(tool(agent, argv, "private-address"))
    assert (code, stdout) == (0, b"192.168.0.99\n")
    imported = {line.rsplit("|", 1)[-1].strip() for line in stderr.decode().splitlines()}
    heavy = {"agent_runtime", "json", "socket", "re", "enum", "os", "gevent", "site", "base64"}
    assert not imported & heavy, sorted(imported & heavy)
    assert "_jujuc_client" in imported


def test_a_python_path_that_cannot_stand_in_a_shebang(agent, base):
    odd = base / "a dir with spaces"
    odd.mkdir()
    (odd / "python").symlink_to(sys.executable)
    assert _header(str(odd / "python")).startswith("#!/bin/sh\n")
    install_tools(base / "tools2", python=str(odd / "python"))
    assert _result(tool(agent, base / "tools2" / "unit-get", "private-address")) == (
        0,
        b"192.168.0.99\n",
        b"",
    )


def test_the_client_and_the_server_speak_the_same_protocol():
    from agent_runtime.uniter.jujuc import client, protocol

    assert (client.VERSION, client.HEADER_SIZE) == (protocol.VERSION, protocol.HEADER_SIZE)
    args = ["-r", "db:3", "ké=y", 'quote"back\\slash', "\n"]
    for stdin in (None, b"", b"\x00\xff data"):
        frame = client.encode_request("ctx", "/dir", "relation-set", args, stdin)
        assert frame == protocol.encode_request("ctx", "/dir", "relation-set", args, stdin)
        request = protocol.parse_request(frame[protocol.HEADER_SIZE :])
        assert (request.context, request.dir, request.command) == ("ctx", "/dir", "relation-set")
        assert (request.args, request.stdin) == (args, stdin)
    response = protocol.encode_response(2, b"out\xff", b"err")
    message = client.decode_response(response[protocol.HEADER_SIZE :])
    assert message == {"version": 1, "code": 2, "stdout": "b3V0/w==", "stderr": "ZXJy"}
    with pytest.raises(client.ClientError):
        client.decode_response(b'{"version": 1} trailing')
    with pytest.raises(client.ClientError):
        client.decode_response(b"[1]")
