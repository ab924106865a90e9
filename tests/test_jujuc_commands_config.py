"""config-get, unit-get, owner-get against the fake context
(uniter-reference §3.7: ConfigGetSuite, UnitGetSuite, OwnerGetSuite)."""

from __future__ import annotations

import json

import pytest
import yaml
from jujuc_support import help_text, make_context, run

# -- config-get -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, out",
    [
        (["monsters"], "False\n"),
        (["monsters", "--format", "yaml"], "false\n"),
        (["monsters", "--format", "json"], "false\n"),
        (["spline-reticulation"], "45\n"),
        (["spline-reticulation", "--format", "yaml"], "45\n"),
        (["spline-reticulation", "--format", "json"], "45\n"),
        (["missing"], ""),
        (["missing", "--format", "yaml"], ""),
        (["missing", "--format", "json"], "null\n"),
        (["title"], "My Title\n"),
        (["empty", "--format", "json"], "null\n"),
    ],
)
def test_config_get_key(args, out):
    result = run(make_context(), "config-get", *args)
    assert (result.code, result.stdout, result.stderr) == (0, out, "")


SET_VALUES = {
    "monsters": False,
    "spline-reticulation": 45.0,
    "title": "My Title",
    "username": "admin001",
}


@pytest.mark.parametrize(
    "args, parse, expected",
    [
        ([], yaml.safe_load, SET_VALUES),
        (["--format", "yaml"], yaml.safe_load, SET_VALUES),
        (["--format", "json"], json.loads, SET_VALUES),
        (["--all", "--format", "yaml"], yaml.safe_load, {**SET_VALUES, "empty": None}),
        (["-a", "--format", "json"], json.loads, {**SET_VALUES, "empty": None}),
        (["--all"], yaml.safe_load, {**SET_VALUES, "empty": None}),
    ],
)
def test_config_get_all(args, parse, expected):
    result = run(make_context(), "config-get", *args)
    assert (result.code, result.stderr) == (0, "")
    assert parse(result.stdout) == expected


def test_config_get_bytes_match_go():
    assert run(make_context(), "config-get").stdout == (
        "monsters: false\nspline-reticulation: 45\ntitle: My Title\nusername: admin001\n"
    )
    assert run(make_context(), "config-get", "--format", "json", "-a").stdout == (
        '{"empty":null,"monsters":false,"spline-reticulation":45,'
        '"title":"My Title","username":"admin001"}\n'
    )


CONFIG_GET_HELP = """usage: config-get [options] [<key>]
purpose: print service configuration

options:
-a, --all  (= false)
    print all keys
--format  (= smart)
    specify output format (json|smart|yaml)
-o, --output (= "")
    specify an output file

When no <key> is supplied, all keys with values or defaults are printed. If
--all is set, all known keys are printed; those without defaults or values are
reported as null. <key> and --all are mutually exclusive.
"""


def test_config_get_help():
    assert help_text(make_context(), "config-get") == CONFIG_GET_HELP


def test_config_get_output_path(tmp_path):
    result = run(
        make_context(), "config-get", "--output", "some-file", "monsters", dir=str(tmp_path)
    )
    assert (result.code, result.stdout, result.stderr) == (0, "", "")
    assert (tmp_path / "some-file").read_text() == "False\n"


def test_config_get_output_path_is_created_even_when_empty(tmp_path):
    (tmp_path / "some-file").write_text("old content")
    result = run(make_context(), "config-get", "-o", "some-file", "missing", dir=str(tmp_path))
    assert (result.code, result.stdout) == (0, "")
    assert (tmp_path / "some-file").read_text() == ""


def test_config_get_output_path_that_cannot_be_written(tmp_path):
    result = run(make_context(), "config-get", "-o", "no/such/dir/file", "title", dir=str(tmp_path))
    assert result.code == 1
    assert result.stderr.startswith("error: ") and "No such file or directory" in result.stderr


def test_config_get_unknown_arg():
    result = run(make_context(), "config-get", "multiple", "keys")
    assert (result.code, result.stdout, result.stderr) == (
        2,
        "",
        'error: unrecognized args: ["keys"]\n',
    )


def test_config_get_all_plus_key():
    result = run(make_context(), "config-get", "--all", "--format", "json", "monsters")
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == 'error: cannot use argument --all together with key "monsters"\n'


def test_config_get_bad_format():
    result = run(make_context(), "config-get", "--format", "xml")
    assert (result.code, result.stderr) == (
        2,
        'error: invalid value "xml" for flag --format: unknown format "xml"\n',
    )


def test_config_get_error_from_the_context():
    ctx = make_context()

    def broken():
        raise OSError("cannot read the charm config")

    ctx.config_settings = broken
    result = run(ctx, "config-get")
    assert (result.code, result.stdout, result.stderr) == (
        1,
        "",
        "error: cannot read the charm config\n",
    )


# -- unit-get ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, out",
    [
        (["private-address"], "192.168.0.99\n"),
        (["private-address", "--format", "yaml"], "192.168.0.99\n"),
        (["private-address", "--format", "json"], '"192.168.0.99"\n'),
        (["public-address"], "gimli.minecraft.testing.invalid\n"),
        (["public-address", "--format", "yaml"], "gimli.minecraft.testing.invalid\n"),
        (["public-address", "--format", "json"], '"gimli.minecraft.testing.invalid"\n'),
    ],
)
def test_unit_get(args, out):
    result = run(make_context(), "unit-get", *args)
    assert (result.code, result.stdout, result.stderr) == (0, out, "")


UNIT_GET_HELP = """usage: unit-get [options] <setting>
purpose: print public-address or private-address

options:
--format  (= smart)
    specify output format (json|smart|yaml)
-o, --output (= "")
    specify an output file
"""


def test_unit_get_help():
    assert help_text(make_context(), "unit-get") == UNIT_GET_HELP


def test_unit_get_output_path(tmp_path):
    result = run(
        make_context(), "unit-get", "--output", "some-file", "private-address", dir=str(tmp_path)
    )
    assert (result.code, result.stdout, result.stderr) == (0, "", "")
    assert (tmp_path / "some-file").read_text() == "192.168.0.99\n"


@pytest.mark.parametrize(
    "args, error",
    [
        ([], "no setting specified"),
        (["protected-address"], 'unknown setting "protected-address"'),
        (["private-address", "blah"], 'unrecognized args: ["blah"]'),
    ],
)
def test_unit_get_bad_args(args, error):
    result = run(make_context(), "unit-get", *args)
    assert (result.code, result.stdout, result.stderr) == (2, "", f"error: {error}\n")


def test_unit_get_address_not_set():
    ctx = make_context()
    ctx._public_address = None
    result = run(ctx, "unit-get", "public-address")
    assert (result.code, result.stdout, result.stderr) == (1, "", "error: public-address not set\n")


# -- owner-get --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, out",
    [
        (["tag"], "test-owner\n"),
        (["tag", "--format", "yaml"], "test-owner\n"),
        (["tag", "--format", "json"], '"test-owner"\n'),
    ],
)
def test_owner_get(args, out):
    result = run(make_context(), "owner-get", *args)
    assert (result.code, result.stdout, result.stderr) == (0, out, "")


OWNER_GET_HELP = (
    "usage: owner-get [options] <setting>\n"
    "purpose: print information about the owner of the service. "
    "The only valid value for <setting> is currently tag\n"
    """
options:
--format  (= smart)
    specify output format (json|smart|yaml)
-o, --output (= "")
    specify an output file
"""
)


def test_owner_get_help():
    assert help_text(make_context(), "owner-get") == OWNER_GET_HELP


def test_owner_get_output_path(tmp_path):
    result = run(make_context(), "owner-get", "--output", "some-file", "tag", dir=str(tmp_path))
    assert (result.code, result.stdout, result.stderr) == (0, "", "")
    assert (tmp_path / "some-file").read_text() == "test-owner\n"


@pytest.mark.parametrize(
    "args, error",
    [
        ([], "no setting specified"),
        (["unknown-setting"], 'unknown setting "unknown-setting"'),
        (["tag", "blah"], 'unrecognized args: ["blah"]'),
    ],
)
def test_owner_get_bad_args(args, error):
    result = run(make_context(), "owner-get", *args)
    assert (result.code, result.stdout, result.stderr) == (2, "", f"error: {error}\n")
