"""The operator's commands (deploy, add-unit, set-config, relate, unrelate,
destroy-unit, resolved), each run for real as a subprocess on a state of the
test's own. A refused command must say why on stderr, exit non-zero, and leave
the state as it was: checked with ``status --format json`` before and after.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from cli_support import Cli, cli_env, write_charm, write_charms

import agent_runtime.state


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "home", tmp_path)


@pytest.fixture
def charms(tmp_path: Path) -> dict[str, Path]:
    return write_charms(tmp_path / "charms")


@pytest.fixture
def deployed(cli: Cli, charms: dict[str, Path]) -> Cli:
    """wordpress (2 units), mysql (1 unit) and redis (no unit), not related
    (but for mysql's peer relation)."""
    cli.ok("deploy", "wordpress", "--charm", str(charms["wordpress"]), "-n", "2")
    cli.ok("deploy", "mysql", "--charm", str(charms["mysql"]), "--num-units", "1")
    cli.ok("deploy", "redis", "--charm", str(charms["redis"]))
    return cli


def default_state_url(cli: Cli) -> str:
    return f"sqlite:///{cli.home / 'state.db'}"


def refused(cli: Cli, *args: str, code: int | None = None, says: str | tuple[str, ...] = ()):
    """Run a command that must be refused, saying ``says``, without changing the state."""
    before = cli.status()
    result = cli.fails(*args, code=code)
    for text in (says,) if isinstance(says, str) else says:
        assert text in result.stderr, str(result)
    assert cli.status() == before, f"{result}\nchanged the state"
    return result


# -- deploy, add-unit -------------------------------------------------------------------


def test_deploy_adds_a_service_and_its_units(cli, charms):
    result = cli.ok("deploy", "wordpress", "--charm", str(charms["wordpress"]), "-n", "2")
    assert result.stdout.splitlines() == [
        "deployed wordpress (charm wordpress)",
        "added unit wordpress/0",
        "added unit wordpress/1",
    ]
    status = cli.status()
    service = status["services"]["wordpress"]
    assert service["charm"] == "wordpress"
    assert service["life"] == "alive"
    assert service["config"] == {}
    assert sorted(service["units"]) == ["wordpress/0", "wordpress/1"]
    for unit in service["units"].values():
        assert unit["life"] == "alive"
    # The default state is the sqlite file under $AGENT_RUNTIME_HOME.
    assert (cli.home / "state.db").is_file()


def test_deploy_without_units_then_add_unit(cli, charms):
    assert cli.ok("deploy", "mysql", "--charm", str(charms["mysql"])).stdout.splitlines() == [
        "deployed mysql (charm mysql)"
    ]
    assert cli.status()["services"]["mysql"]["units"] == {}
    assert cli.ok("add-unit", "mysql").stdout == "added unit mysql/0\n"
    assert cli.ok("add-unit", "mysql", "-n", "2").stdout.splitlines() == [
        "added unit mysql/1",
        "added unit mysql/2",
    ]
    assert sorted(cli.status()["services"]["mysql"]["units"]) == ["mysql/0", "mysql/1", "mysql/2"]


def test_deploy_makes_the_peer_relations(cli, charms):
    cli.ok("deploy", "mysql", "--charm", str(charms["mysql"]))
    assert [r["key"] for r in cli.status()["relations"]] == ["mysql:cluster"]


def test_deploy_refuses_a_service_that_exists(deployed, charms):
    refused(
        deployed,
        "deploy",
        "wordpress",
        "--charm",
        str(charms["wordpress"]),
        "-n",
        "1",
        says="service 'wordpress' already exists",
    )


def test_deploy_refuses_a_directory_without_metadata(deployed, tmp_path):
    charm = write_charm(tmp_path / "nometa", None, {"port": {"type": "int"}})
    refused(
        deployed,
        "deploy",
        "nometa",
        "--charm",
        str(charm),
        says="is not a charm directory: it has no metadata.yaml",
    )


def test_deploy_refuses_a_missing_directory(deployed, tmp_path):
    refused(
        deployed,
        "deploy",
        "ghost",
        "--charm",
        str(tmp_path / "ghost"),
        says="does not exist or is not a directory",
    )


def test_deploy_refuses_bad_metadata_naming_the_problem(deployed, tmp_path):
    charm = write_charm(tmp_path / "bad", {"name": "bad", "requires": {"db": {}}})
    refused(deployed, "deploy", "bad", "--charm", str(charm), says="needs an interface name")
    charm = write_charm(
        tmp_path / "badopt", {"name": "badopt"}, {"size": {"type": "int", "default": "big"}}
    )
    refused(deployed, "deploy", "badopt", "--charm", str(charm), says="option 'size'")


def test_deploy_refuses_a_bad_service_name(deployed, charms):
    refused(
        deployed,
        "deploy",
        "Bad_Name",
        "--charm",
        str(charms["mysql"]),
        says="invalid service name 'Bad_Name'",
    )


def test_deploy_and_add_unit_refuse_bad_unit_counts(deployed, charms):
    refused(deployed, "deploy", "other", "--charm", str(charms["mysql"]), "-n", "-1", code=2)
    refused(deployed, "add-unit", "mysql", "-n", "0", code=2)
    refused(deployed, "add-unit", "mysql", "-n", "many", code=2)


def test_add_unit_refuses_an_unknown_service(deployed):
    refused(deployed, "add-unit", "ghost", says="service 'ghost' not found")


# -- set-config ------------------------------------------------------------------------


def test_set_config_converts_each_value_to_its_options_type(deployed):
    result = deployed.ok(
        "set-config",
        "wordpress",
        "title=Hello, world",
        "port=8080",
        "ratio=0.25",
        "debug=yes",
        "tagline=a=b",
    )
    assert result.stdout.splitlines() == [
        'wordpress: title = "Hello, world"',
        "wordpress: port = 8080",
        "wordpress: ratio = 0.25",
        "wordpress: debug = true",
        'wordpress: tagline = "a=b"',
    ]
    config = deployed.status()["services"]["wordpress"]["config"]
    assert config == {
        "title": "Hello, world",
        "port": 8080,
        "ratio": 0.25,
        "debug": True,
        "tagline": "a=b",
    }
    assert type(config["port"]) is int and type(config["ratio"]) is float
    # A float option takes an int-looking value, as a float.
    deployed.ok("set-config", "wordpress", "ratio=2", "debug=false")
    config = deployed.status()["services"]["wordpress"]["config"]
    assert config["ratio"] == 2.0 and type(config["ratio"]) is float
    assert config["debug"] is False


def test_set_config_key_equals_nothing_resets_to_the_default(deployed):
    deployed.ok("set-config", "wordpress", "title=Hi", "port=8080", "tagline=yes", "debug=on")
    result = deployed.ok("set-config", "wordpress", "title=", "port=", "tagline=")
    assert result.stdout.splitlines() == [
        'wordpress: title reset to its default ("My blog")',
        "wordpress: port reset to its default (80)",
        "wordpress: tagline reset to its default (null)",
    ]
    assert deployed.status()["services"]["wordpress"]["config"] == {"debug": True}


def test_set_config_the_last_setting_of_a_key_wins(deployed):
    deployed.ok("set-config", "wordpress", "port=1", "port=", "title=", "title=Last")
    assert deployed.status()["services"]["wordpress"]["config"] == {"title": "Last"}


@pytest.mark.parametrize(
    ("setting", "says"),
    [
        ("port=eighty", "option 'port' expects int, got 'eighty'"),
        ("port=8.5", "option 'port' expects int"),
        ("ratio=half", "option 'ratio' expects float, got 'half'"),
        ("debug=maybe", "option 'debug' expects boolean, got 'maybe'"),
        ("nosuch=1", "charm 'wordpress' has no option 'nosuch'"),
        ("nosuch=", "has no option 'nosuch'"),
    ],
)
def test_set_config_refuses_a_bad_setting_naming_it_and_sets_nothing(deployed, setting, says):
    deployed.ok("set-config", "wordpress", "title=Before")
    # The good settings before the bad one are not written either.
    refused(deployed, "set-config", "wordpress", "title=After", "port=81", setting, says=says)
    assert deployed.status()["services"]["wordpress"]["config"] == {"title": "Before"}


def test_set_config_names_the_known_options_of_an_unknown_one(deployed):
    result = refused(deployed, "set-config", "wordpress", "colour=red")
    assert "debug, port, ratio, tagline, title" in result.stderr


def test_set_config_refuses_a_setting_without_equals(deployed):
    refused(
        deployed, "set-config", "wordpress", "port", code=2, says="expected KEY=VALUE, got 'port'"
    )
    refused(deployed, "set-config", "wordpress", "=1", code=2, says="expected KEY=VALUE")


def test_set_config_refuses_an_unknown_service(deployed):
    refused(deployed, "set-config", "ghost", "port=1", says="service 'ghost' not found")


def test_set_config_needs_a_setting(deployed):
    refused(deployed, "set-config", "wordpress", code=2)


# -- relate, unrelate ------------------------------------------------------------------


def test_relate_and_unrelate(deployed):
    result = deployed.ok("relate", "wordpress:db", "mysql:server")
    assert result.stdout.startswith("related wordpress:db mysql:server (relation ")
    relations = {r["key"]: r for r in deployed.status()["relations"]}
    assert set(relations) == {"mysql:cluster", "wordpress:db mysql:server"}
    assert relations["wordpress:db mysql:server"]["life"] == "alive"

    result = deployed.ok("unrelate", "wordpress:db", "mysql:server")
    assert result.stdout.startswith("ending relation wordpress:db mysql:server")
    assert [r["key"] for r in deployed.status()["relations"]] == ["mysql:cluster"]


def test_relate_finds_the_endpoints_of_bare_service_names(deployed):
    deployed.ok("relate", "mysql", "wordpress")
    keys = [r["key"] for r in deployed.status()["relations"]]
    assert "wordpress:db mysql:server" in keys
    deployed.ok("unrelate", "wordpress", "mysql")
    assert [r["key"] for r in deployed.status()["relations"]] == ["mysql:cluster"]


def test_unrelating_a_relation_with_units_in_scope_leaves_it_dying(deployed):
    deployed.ok("relate", "wordpress:db", "mysql:server")
    url = default_state_url(deployed)
    with agent_runtime.state.open(url) as state:
        relation = state.find_relation("wordpress:db", "mysql:server")
        state.enter_scope(relation.id, "wordpress/0", {"x": "1"})
    deployed.ok("unrelate", "wordpress:db", "mysql:server")
    relations = {r["key"]: r for r in deployed.status()["relations"]}
    assert relations["wordpress:db mysql:server"]["life"] == "dying"
    assert relations["wordpress:db mysql:server"]["scope"] == ["wordpress/0"]


def test_relate_refuses_endpoints_whose_interfaces_differ(deployed):
    refused(
        deployed,
        "relate",
        "wordpress:cache",
        "redis:cache",
        says="their interfaces differ ('memcache' and 'redis')",
    )
    refused(deployed, "relate", "wordpress", "redis", says="can relate")


@pytest.mark.parametrize(
    ("endpoints", "says"),
    [
        (("wordpress:nosuch", "mysql:server"), "service 'wordpress' has no endpoint 'nosuch'"),
        (("wordpress:db", "ghost:server"), "service 'ghost' not found"),
        (("wordpress:db",), "must be a peer relation"),
        (("wordpress:db", "mysql:server", "redis:cache"), "one (peer) or two endpoints"),
        (("mysql:cluster",), "already exists"),
    ],
)
def test_relate_refuses_what_cannot_relate(deployed, endpoints, says):
    refused(deployed, "relate", *endpoints, says=says)


def test_relate_refuses_a_relation_that_exists(deployed):
    deployed.ok("relate", "wordpress:db", "mysql:server")
    refused(
        deployed,
        "relate",
        "mysql:server",
        "wordpress:db",
        says="relation 'wordpress:db mysql:server' already exists",
    )


def test_unrelate_refuses_a_relation_that_does_not_exist(deployed):
    refused(deployed, "unrelate", "wordpress:db", "mysql:server", says="not found")
    refused(deployed, "unrelate", "wordpress:cache", "redis:cache", says="interfaces differ")


# -- destroy-unit ----------------------------------------------------------------------


def test_destroy_unit_makes_units_dying(deployed):
    result = deployed.ok("destroy-unit", "wordpress/0", "mysql/0")
    assert result.stdout.splitlines() == ["destroying wordpress/0", "destroying mysql/0"]
    services = deployed.status()["services"]
    assert services["wordpress"]["units"]["wordpress/0"]["life"] == "dying"
    assert services["wordpress"]["units"]["wordpress/1"]["life"] == "alive"
    assert services["mysql"]["units"]["mysql/0"]["life"] == "dying"
    # Again: no change, no error.
    deployed.ok("destroy-unit", "wordpress/0")
    assert deployed.status()["services"] == services


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("wordpress/7", "unit 'wordpress/7' not found"),
        ("ghost/0", "not found"),
        ("wordpress", "invalid unit name 'wordpress'"),
        ("wordpress/01", "invalid unit name"),
        ("wordpress/-1", "invalid unit name"),
        ("../wordpress/0", "invalid unit name"),
    ],
)
def test_destroy_unit_checks_every_unit_before_changing_any(deployed, bad, says):
    # The good unit comes first: it must not be destroyed either.
    refused(deployed, "destroy-unit", "wordpress/0", bad, "mysql/0", says=says)


# -- resolved --------------------------------------------------------------------------


def set_error(cli: Cli, unit: str, hook: str) -> None:
    """Put ``unit`` in an error state, as its agent would after ``hook`` failed."""
    with agent_runtime.state.open(default_state_url(cli)) as state:
        state.set_unit_status(unit, "error", f"hook failed: {hook!r}", hook=hook)


def test_resolved_is_refused_unless_the_unit_is_in_error(deployed):
    refused(deployed, "resolved", "wordpress/0", says="unit 'wordpress/0' is not in an error state")
    refused(deployed, "resolved", "wordpress/0", "--retry", says="not in an error state")


def test_resolved_skips_or_retries_the_failed_hook(deployed):
    set_error(deployed, "wordpress/0", "config-changed")
    result = deployed.ok("resolved", "wordpress/0")
    assert result.stdout == "wordpress/0: skipping the failed hook\n"
    unit = deployed.status()["services"]["wordpress"]["units"]["wordpress/0"]
    assert unit["status"] == "error"
    assert unit["hook"] == "config-changed"
    assert unit["resolved"] == "skip"

    result = deployed.ok("resolved", "wordpress/0", "--retry")
    assert result.stdout == "wordpress/0: retrying the failed hook\n"
    assert deployed.status()["services"]["wordpress"]["units"]["wordpress/0"]["resolved"] == "retry"
    # The other unit was not touched.
    assert "resolved" not in deployed.status()["services"]["wordpress"]["units"]["wordpress/1"]


@pytest.mark.parametrize(
    ("unit", "says"),
    [
        ("wordpress/9", "unit 'wordpress/9' not found"),
        ("wordpress/zero", "invalid unit name 'wordpress/zero'"),
        ("WordPress/0", "invalid unit name"),
    ],
)
def test_resolved_refuses_a_unit_that_does_not_exist_or_parse(deployed, unit, says):
    refused(deployed, "resolved", unit, says=says)


# -- the state: --state, $AGENT_RUNTIME_HOME -------------------------------------------


def test_state_may_come_after_the_subcommands_arguments(cli, charms, tmp_path):
    url = f"sqlite:///{tmp_path / 'other.db'}"
    cli.ok("deploy", "mysql", "--charm", str(charms["mysql"]), "--state", url)
    cli.ok("add-unit", "mysql", "--state", url)
    cli.ok("destroy-unit", "mysql/0", "--state", url)
    status = cli.status("--state", url)
    assert status["services"]["mysql"]["units"]["mysql/0"]["life"] == "dying"
    # And before them too.
    assert cli.ok("status", "--state", url, "--format", "json").json() == status
    # The default state was never made, let alone changed.
    assert not (cli.home / "state.db").exists()
    assert cli.status() == {"services": {}, "relations": []}


def test_state_option_on_each_operator_command(deployed, charms, tmp_path):
    url = f"sqlite:///{tmp_path / 'other.db'}"
    default_before = deployed.status()
    for args in (
        ["deploy", "wordpress", "--charm", str(charms["wordpress"]), "-n", "2"],
        ["deploy", "mysql", "--charm", str(charms["mysql"])],
        ["add-unit", "mysql"],
        ["set-config", "wordpress", "port=81"],
        ["relate", "wordpress:db", "mysql:server"],
        ["unrelate", "wordpress:db", "mysql:server"],
        ["destroy-unit", "wordpress/1"],
    ):
        deployed.ok(*args, "--state", url)
    with agent_runtime.state.open(url) as state:
        state.set_unit_status("wordpress/0", "error", "hook failed", hook="install")
    deployed.ok("resolved", "wordpress/0", "--retry", "--state", url)
    other = deployed.status("--state", url)
    assert sorted(other["services"]) == ["mysql", "wordpress"]
    assert other["services"]["wordpress"]["config"] == {"port": 81}
    assert other["services"]["wordpress"]["units"]["wordpress/1"]["life"] == "dying"
    assert other["services"]["wordpress"]["units"]["wordpress/0"]["resolved"] == "retry"
    assert [r["key"] for r in other["relations"]] == ["mysql:cluster"]
    assert deployed.status() == default_before


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("bogus", "malformed state URL 'bogus'"),
        ("ftp://example/state", "unknown state URL scheme 'ftp'"),
        ("sqlite:///{tmp}/no/such/dir/state.db", "does not exist"),
        ("sqlite:///{tmp}", "it is a directory"),
        ("sqlite:///{tmp}/notastate.db", "is not an agent_runtime state"),
        ("sqlite:///{tmp}/x.db?poll=never", "poll must be a number"),
    ],
)
def test_a_state_url_that_cannot_be_opened(cli, charms, tmp_path, url, says):
    (tmp_path / "notastate.db").write_text("this is not a database\n" * 100)
    url = url.format(tmp=tmp_path)
    for args in (["status"], ["deploy", "mysql", "--charm", str(charms["mysql"])]):
        result = cli.fails(*args, "--state", url)
        assert f"cannot open the state {url!r}" in result.stderr, str(result)
        assert says in result.stderr, str(result)
    assert (tmp_path / "notastate.db").read_text() == "this is not a database\n" * 100


def test_the_default_state_follows_xdg_data_home(cli, charms, tmp_path):
    data = tmp_path / "xdg"
    env = cli_env(None, XDG_DATA_HOME=str(data))
    cli.ok("deploy", "mysql", "--charm", str(charms["mysql"]), env=env)
    assert (data / "agent-runtime" / "state.db").is_file()
    assert "mysql" in cli.ok("status", env=env).stdout
    assert not (cli.home / "state.db").exists()


# -- help ------------------------------------------------------------------------------


def subcommands() -> list[str]:
    from agent_runtime.cli import build_parser

    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(action.choices)


def test_the_documented_subcommands_are_there():
    assert {
        "run",
        "deploy",
        "add-unit",
        "set-config",
        "relate",
        "unrelate",
        "destroy-unit",
        "resolved",
        "status",
    } <= set(subcommands())


@pytest.mark.parametrize("command", subcommands())
def test_help_on_every_subcommand(cli, command):
    result = cli.ok(command, "--help")
    assert result.stdout.startswith(f"usage: agent-runtime {command}"), str(result)
    assert result.stderr == ""
    if command != "run":  # `run` does not use the state
        assert "--state URL" in result.stdout, str(result)
    assert not (cli.home / "state.db").exists(), "--help opened the state"


def test_help_of_the_command(cli):
    result = cli.ok("--help")
    for command in subcommands():
        assert command in result.stdout


def test_no_subcommand_or_an_unknown_one_is_a_usage_error(cli):
    for args in ([], ["frobnicate"]):
        result = cli(*args)
        assert result.returncode == 2, str(result)
        assert "usage: agent-runtime" in result.stderr, str(result)
