"""The hook tools' command machinery (uniter-reference §3.4): flag parsing
and its error texts, the help layout, exit codes, and the output formats."""

from __future__ import annotations

import json
import math

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_runtime.uniter.jujuc import cmd, goyaml
from agent_runtime.uniter.jujuc.cmd import FlagSet, HelpRequested, UsageError, go_quote
from agent_runtime.uniter.jujuc.output import format_json, format_smart, format_yaml

# -- flags ----------------------------------------------------------------------------


def _flags():
    flags = FlagSet("test")
    values = {
        "all": flags.bool(("a", "all"), False, "print all keys"),
        "b": flags.bool("b", False, "a letter"),
        "output": flags.string(("o", "output"), "", "specify an output file"),
        "level": flags.string(("l", "log-level"), "INFO", "level"),
    }
    return flags, values


@pytest.mark.parametrize(
    "args, positional, expected",
    [
        ([], [], {}),
        (["x", "y"], ["x", "y"], {}),
        (["-a"], [], {"all": True}),
        (["--all"], [], {"all": True}),
        (["--all=false"], [], {"all": False}),
        (["-ab"], [], {"all": True, "b": True}),
        (["-o", "f"], [], {"output": "f"}),
        (["-of"], [], {"output": "f"}),
        (["-ao", "f"], [], {"all": True, "output": "f"}),
        (["--output", "f"], [], {"output": "f"}),
        (["--output=f=g"], [], {"output": "f=g"}),
        (["--output="], [], {"output": ""}),
        (["x", "--output", "f", "y"], ["x", "y"], {"output": "f"}),  # interspersed
        (["--", "-a", "--all"], ["-a", "--all"], {}),
        (["-", "x"], ["-", "x"], {}),  # a lone dash is an argument
        (["-o", "-a"], [], {"output": "-a", "all": False}),  # a value may look like a flag
        (["-l", "x", "-l", "y"], [], {"level": "y"}),  # the last one wins
    ],
)
def test_flag_parsing(args, positional, expected):
    flags, values = _flags()
    assert flags.parse(args) == positional
    for name, value in expected.items():
        assert values[name].value == value


@pytest.mark.parametrize(
    "args, message",
    [
        (["--cheese"], "flag provided but not defined: --cheese"),
        (["-c"], "flag provided but not defined: -c"),
        (["-ac"], "flag provided but not defined: -c"),
        (["-l"], "flag needs an argument: -l"),
        (["--log-level"], "flag needs an argument: --log-level"),
        (["--all=maybe"], 'invalid value "maybe" for flag --all: '),
    ],
)
def test_flag_errors(args, message):
    flags, _ = _flags()
    with pytest.raises(UsageError) as raised:
        flags.parse(args)
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize("args", [["-h"], ["--help"], ["x", "--help", "--cheese"]])
def test_help_flags(args):
    flags, _ = _flags()
    with pytest.raises(HelpRequested):
        flags.parse(args)


def test_an_error_before_help_wins():
    flags, _ = _flags()
    with pytest.raises(UsageError):
        flags.parse(["--cheese", "--help"])


def test_flag_defaults_are_grouped_and_sorted():
    flags, values = _flags()
    values["level"].set("DEBUG")  # the help shows the default, not the value set
    assert flags.defaults() == (
        "-a, --all  (= false)\n"
        "    print all keys\n"
        "-b  (= false)\n"
        "    a letter\n"
        '-l, --log-level (= "INFO")\n'
        "    level\n"
        '-o, --output (= "")\n'
        "    specify an output file\n"
    )


def test_help_layout():
    flags, _ = _flags()
    info = cmd.Info("thing", "<arg>", "do a thing", "\n  Some doc.\n\n")
    assert info.help(flags).startswith(
        "usage: thing [options] <arg>\npurpose: do a thing\n\noptions:\n-a, --all  (= false)\n"
    )
    assert info.help(flags).endswith("    specify an output file\n\nSome doc.\n")
    assert cmd.Info("bare").help(FlagSet("bare")) == "usage: bare\n"


@pytest.mark.parametrize(
    "text, quoted",
    [
        ("keys", '"keys"'),
        ('a"b\\c', '"a\\"b\\\\c"'),
        ("tab\there\n", '"tab\\there\\n"'),
        ("\x00\x7f", '"\\x00\\x7f"'),
        ("café ✓", '"café ✓"'),
        ("\u200b", '"\\u200b"'),
        ("bad\udcff", '"bad\\xff"'),  # a non-UTF-8 byte, surrogate-escaped
    ],
)
def test_go_quote(text, quoted):
    assert go_quote(text) == quoted


def test_unrecognized_args_text():
    with pytest.raises(UsageError, match=r'^unrecognized args: \["keys"\]$'):
        cmd.check_empty(["keys"])
    with pytest.raises(UsageError, match=r'^unrecognized args: \["a" "b c"\]$'):
        cmd.check_empty(["a", "b c"])
    cmd.check_empty([])


# -- cmd.main: exit codes ---------------------------------------------------------------


class _Probe(cmd.Command):
    name = "probe"
    purpose = "test the machinery"

    def __init__(self, init_error=None, run_error=None):
        super().__init__(None)
        self.init_error = init_error
        self.run_error = run_error

    def set_flags(self, flags):
        self.value = flags.string("value", "", "a value")

    def init(self, args):
        if self.init_error:
            raise self.init_error
        cmd.check_empty(args)

    def run(self, inv):
        if self.run_error:
            raise self.run_error
        inv.stdout.write(b"ran\n")


def _main(command, *args):
    inv = cmd.Invocation("/")
    code = cmd.main(command, inv, list(args))
    return code, inv.stdout.getvalue().decode(), inv.stderr.getvalue().decode()


def test_main_exit_codes():
    assert _main(_Probe()) == (0, "ran\n", "")
    assert _main(_Probe(), "--help") == (
        0,
        'usage: probe [options]\npurpose: test the machinery\n\noptions:\n--value (= "")\n'
        "    a value\n",
        "",
    )
    assert _main(_Probe(), "--cheese") == (
        2,
        "",
        "error: flag provided but not defined: --cheese\n",
    )
    assert _main(_Probe(), "extra") == (2, "", 'error: unrecognized args: ["extra"]\n')
    assert _main(_Probe(init_error=ValueError("bad init"))) == (2, "", "error: bad init\n")
    assert _main(_Probe(run_error=ValueError("blam"))) == (1, "", "error: blam\n")
    assert _main(_Probe(run_error=KeyError("gone"))) == (1, "", "error: gone\n")


def test_a_command_that_raises_anything_exits_1(caplog):
    code, stdout, stderr = _main(_Probe(run_error=ZeroDivisionError("division by zero")))
    assert (code, stdout, stderr) == (1, "", "error: division by zero\n")
    assert "failed unexpectedly" in caplog.text  # a bug is logged with its traceback


# -- output formats ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, smart, yaml_text, json_text",
    [
        (None, "", "", "null"),
        ("", "", '""', '""'),
        ("192.168.0.99", "192.168.0.99", "192.168.0.99", '"192.168.0.99"'),
        ("12345", "12345", '"12345"', '"12345"'),
        ("pew\npew\n", "pew\npew\n", "'pew\n\n  pew\n\n'", '"pew\\npew\\n"'),
        (False, "False", "false", "false"),
        (True, "True", "true", "true"),
        (45.0, "45", "45", "45"),
        (4.5, "4.5", "4.5", "4.5"),
        (7, "7", "7", "7"),
        (["x:0", "x:1"], "x:0\nx:1", "- x:0\n- x:1", '["x:0","x:1"]'),
        ([], "", "[]", "[]"),
        ({}, "{}", "{}", "{}"),
        ({"pew": "pew\npew\n"}, "pew: 'pew\n\n  pew\n\n'", "pew: 'pew\n\n  pew\n\n'", None),
        ({"value": "12345"}, 'value: "12345"', 'value: "12345"', '{"value":"12345"}'),
        (
            {"b": 1, "a": "<&>"},
            "a: <&>\nb: 1",
            "a: <&>\nb: 1",
            '{"a":"\\u003c\\u0026\\u003e","b":1}',
        ),
    ],
)
def test_formats(value, smart, yaml_text, json_text):
    assert format_smart(value) == smart
    assert format_yaml(value) == yaml_text
    if json_text is not None:
        assert format_json(value) == json_text


def test_goyaml_key_order():
    keys = ["b", "a10", "a9", "A", "a", "_x", "a1", "x-2", "x-10"]
    expected = ["_x", "A", "a", "a1", "a9", "a10", "b", "x-2", "x-10"]
    assert sorted(keys, key=goyaml.key_order) == expected


@pytest.mark.parametrize(
    "value, text",
    [(100.0, "100"), (1e-7, "1.0e-07"), (1e21, "1.0e+21"), (-2.5, "-2.5"), (math.inf, ".inf")],
)
def test_yaml_floats_read_back_as_numbers(value, text):
    assert goyaml.format_float(value) == text
    assert yaml.safe_load(text) == value


@pytest.mark.parametrize(
    "text",
    ["yes", "No", "on", "y", "null", "~", "1e3", "0o17", "0x1F", "2014-01-01", "1:20", "<<", "="],
)
def test_yaml_quotes_strings_that_would_read_as_something_else(text):
    assert yaml.safe_load(goyaml.dump(text)) == text
    assert goyaml.dump(text).startswith('"')


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)
_config = st.dictionaries(st.text(min_size=1), _scalars)
_settings = st.dictionaries(st.text(min_size=1), st.text())
_nested = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(min_size=1), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_settings, _config, st.lists(st.text()), st.text(), _nested))
def test_yaml_gives_back_the_values(value):
    text = goyaml.dump(value)
    assert yaml.safe_load(text) == value, text
    if isinstance(value, dict):
        assert format_smart(value) == format_yaml(value)


@settings(max_examples=200, deadline=None)
@given(_nested)
def test_json_gives_back_the_values(value):
    text = format_json(value)
    assert json.loads(text) == value
    assert format_json(json.loads(text)) == text  # compact and sorted: one text per value
