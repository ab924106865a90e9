"""open-port, close-port, juju-log, the command table, the fake context and
the context registry (uniter-reference §3.7: PortsSuite, JujuLogSuite,
NewCommandSuite)."""

from __future__ import annotations

import logging

import pytest
from jujuc_support import help_text, init, make_context, run
from zope.interface.verify import verifyObject

from agent_runtime.interfaces import IContextRelation, IHookContext, IRelationSettings
from agent_runtime.uniter.jujuc import COMMANDS, ContextRegistry, command_names, new_command
from agent_runtime.uniter.jujuc.cmd import FlagSet
from agent_runtime.uniter.jujuc.commands import UnknownCommand
from agent_runtime.uniter.jujuc.log import TRACE
from agent_runtime.uniter.jujuc.testing import FakeHookContext

# -- the fake context and the table ------------------------------------------------------


def test_the_fake_context_provides_the_interfaces():
    ctx = make_context(1)
    verifyObject(IHookContext, ctx)
    verifyObject(IContextRelation, ctx.relation(1))
    verifyObject(IRelationSettings, ctx.relation(1).settings())


@pytest.mark.parametrize("name", command_names())
def test_new_command(name):  # NewCommandSuite
    command = new_command(make_context(), name)
    assert command.info().name == name


def test_new_command_unknown():
    with pytest.raises(UnknownCommand) as raised:
        new_command(make_context(), "random")
    assert str(raised.value) == "unknown command: random"
    assert isinstance(raised.value, LookupError)


def test_command_names():
    assert command_names() == [
        "close-port",
        "config-get",
        "juju-log",
        "open-port",
        "owner-get",
        "relation-get",
        "relation-ids",
        "relation-list",
        "relation-set",
        "unit-get",
    ]
    assert sorted(COMMANDS) == command_names()


# -- the registry -------------------------------------------------------------------------


def test_registry_mints_unguessable_ids_and_revokes_them():
    registry = ContextRegistry()
    ctx = make_context()
    ids = {registry.register(ctx) for _ in range(100)}
    assert len(ids) == 100 and all(len(i) >= 43 for i in ids)  # 256 bits, base64url
    some = ids.pop()
    assert registry.lookup(some).context is ctx
    registry.revoke(some)
    registry.revoke(some)
    assert registry.lookup(some) is None
    assert some not in registry and len(registry) == 99


def test_registry_with_block():
    registry = ContextRegistry()
    with registry.registered(make_context()) as token:
        assert token in registry
    assert token not in registry


def test_registry_wants_hook_contexts():
    with pytest.raises(TypeError):
        ContextRegistry().register(object())


# -- open-port / close-port --------------------------------------------------------------


def test_open_close():
    ctx = make_context()
    steps = [
        ("open-port", "80", {("tcp", 80)}),
        ("open-port", "99/tcp", {("tcp", 80), ("tcp", 99)}),
        ("close-port", "80/TCP", {("tcp", 99)}),
        ("open-port", "123/udp", {("tcp", 99), ("udp", 123)}),
        ("close-port", "9999/UDP", {("tcp", 99), ("udp", 123)}),
    ]
    for name, arg, ports in steps:
        result = run(ctx, name, arg)
        assert (result.code, result.stdout, result.stderr) == (0, "", "")
        assert ctx.ports == ports


@pytest.mark.parametrize("name", ["open-port", "close-port"])
@pytest.mark.parametrize(
    "args, error",
    [
        ([], "no port specified"),
        (["0"], 'port must be in the range [1, 65535]; got "0"'),
        (["65536"], 'port must be in the range [1, 65535]; got "65536"'),
        (["two"], 'port must be in the range [1, 65535]; got "two"'),
        (["80/http"], 'protocol must be "tcp" or "udp"; got "http"'),
        (["blah/blah/blah"], 'expected <port>[/<protocol>]; got "blah/blah/blah"'),
        (["123", "haha"], 'unrecognized args: ["haha"]'),
    ],
)
def test_ports_bad_args(name, args, error):
    with pytest.raises(ValueError) as raised:
        init(make_context(), name, *args)
    assert str(raised.value) == error
    result = run(make_context(), name, *args)
    assert (result.code, result.stdout, result.stderr) == (2, "", f"error: {error}\n")


def test_ports_help():
    # The reference's TestHelp renders Info with an empty flag set...
    ctx = make_context()
    empty = FlagSet("empty")
    assert new_command(ctx, "open-port").info().help(empty) == (
        "usage: open-port <port>[/<protocol>]\npurpose: register a port to open\n\n"
        "The port will only be open while the service is exposed.\n"
    )
    assert new_command(ctx, "close-port").info().help(empty) == (
        "usage: close-port <port>[/<protocol>]\npurpose: ensure a port is always closed\n"
    )
    # ...while --help shows the deprecated --format flag too.
    assert help_text(ctx, "close-port") == (
        "usage: close-port [options] <port>[/<protocol>]\npurpose: ensure a port is always closed\n"
        '\noptions:\n--format (= "")\n    deprecated format flag\n'
    )


@pytest.mark.parametrize("name, arg", [("open-port", "80"), ("close-port", "80/TCP")])
def test_ports_deprecation(name, arg):
    result = run(make_context(), name, "--format", "foo", arg)
    assert (result.code, result.stdout) == (0, "")
    assert result.stderr == f'--format flag deprecated for command "{name}"'


def test_port_errors_from_the_context():
    ctx = make_context()

    def refuse(protocol, port):
        raise ValueError(f"cannot open {port}/{protocol}: ports are frozen")

    ctx.open_port = refuse
    result = run(ctx, "open-port", "80")
    assert (result.code, result.stderr) == (1, "error: cannot open 80/tcp: ports are frozen\n")


# -- juju-log ---------------------------------------------------------------------------


@pytest.mark.parametrize("relid, prefix", [(-1, ""), (1, "peer1:1: ")])
@pytest.mark.parametrize(
    "flags, level",
    [
        ([], logging.INFO),
        (["--debug"], logging.DEBUG),
        (["--log-level", "TRACE"], TRACE),
        (["--log-level", "info"], logging.INFO),
        (["--log-level", "WaRnInG"], logging.WARNING),
        (["--log-level", "error"], logging.ERROR),
        (["-l", "CRITICAL"], logging.CRITICAL),
    ],
)
def test_juju_log_badges(caplog, relid, prefix, flags, level):
    caplog.set_level(1, logger="unit")
    result = run(make_context(relid), "juju-log", *flags, "the chickens", "are 110% AWESOME")
    assert (result.code, result.stdout, result.stderr) == (0, "", "")
    records = [r for r in caplog.records if r.name == "unit.u/0.juju-log"]
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (level, f"{prefix}the chickens are 110% AWESOME")
    ]


def test_juju_log_bad_level_logs_a_warning_and_uses_info(caplog):
    caplog.set_level(1, logger="unit")
    result = run(make_context(), "juju-log", "-l", "FATAL", "message")
    assert result.code == 0
    assert [(r.levelno, r.getMessage()) for r in caplog.records if r.name.startswith("unit.")] == [
        (logging.WARNING, 'Specified log level of "FATAL" is not valid'),
        (logging.INFO, "message"),
    ]


@pytest.mark.parametrize(
    "args, error",
    [
        ([], "error: no message specified\n"),
        (["-l"], "error: flag needs an argument: -l\n"),
        (["--log-level"], "error: flag needs an argument: --log-level\n"),
        (["-l", "FATAL"], "error: no message specified\n"),
        (["--log-level", "FATAL"], "error: no message specified\n"),
    ],
)
def test_juju_log_bad_args(args, error):
    result = run(make_context(), "juju-log", *args)
    assert (result.code, result.stdout, result.stderr) == (2, "", error)


def test_juju_log_deprecation(caplog):
    result = run(make_context(), "juju-log", "--format", "foo", "msg")
    assert (result.code, result.stdout) == (0, "")
    assert result.stderr == '--format flag deprecated for command "juju-log"'


def test_juju_log_help():
    assert help_text(FakeHookContext(), "juju-log") == (
        "usage: juju-log [options] <message>\npurpose: write a message to the juju log\n\n"
        "options:\n--debug  (= false)\n    log at debug level\n"
        '--format (= "")\n    deprecated format flag\n'
        '-l, --log-level (= "INFO")\n    Send log message at the given level\n'
    )
