"""``agent-runtime status``: a readable table by default, ``--format json``
and ``--format yaml`` for machines; run for real as a subprocess."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cli_support import Cli, write_charms

import agent_runtime.state


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "home", tmp_path)


@pytest.fixture
def populated(cli: Cli, tmp_path: Path) -> Cli:
    """A state with something in every column: two services related, a unit
    in scope, a unit in error after a hook (resolved --retry), a dying unit,
    addresses, ports, a config value."""
    charms = write_charms(tmp_path / "charms")
    cli.ok("deploy", "wordpress", "--charm", str(charms["wordpress"]), "-n", "2")
    cli.ok("deploy", "mysql", "--charm", str(charms["mysql"]), "-n", "1")
    cli.ok("relate", "wordpress:db", "mysql:server")
    cli.ok("set-config", "wordpress", "port=8080")
    with agent_runtime.state.open(f"sqlite:///{cli.home / 'state.db'}") as state:
        state.set_unit_addresses("wordpress/0", public="wp0.example.com", private="10.0.0.5")
        state.open_port("wordpress/0", "tcp", 8080)
        state.open_port("wordpress/0", "udp", 53)
        state.set_unit_status("wordpress/0", "active", "serving the blog", hook="start")
        state.set_unit_status("mysql/0", "error", "hook failed: 'install'", hook="install")
        relation = state.find_relation("wordpress:db", "mysql:server")
        state.enter_scope(relation.id, "wordpress/0")
    cli.ok("resolved", "mysql/0", "--retry")
    cli.ok("destroy-unit", "wordpress/1")
    return cli


def sections(text: str) -> list[list[str]]:
    """The table output's sections (split on blank lines), as lists of lines."""
    return [part.splitlines() for part in text.strip("\n").split("\n\n")]


def columns(line: str) -> list[str]:
    """The cells of a table line (cells are separated by two spaces or more)."""
    return re.split(r"\s{2,}", line.strip())


def test_an_empty_state(cli):
    result = cli.ok("status")
    assert sections(result.stdout) == [["no services"], ["no units"], ["no relations"]]
    assert cli.status() == {"services": {}, "relations": []}
    assert cli.status_yaml() == {"services": {}, "relations": []}


def test_the_table_has_a_section_each_for_services_units_relations(populated):
    result = populated.ok("status")
    assert result.stderr == ""
    services, units, relations = sections(result.stdout)

    assert columns(services[0]) == ["SERVICE", "CHARM", "LIFE", "UNITS"]
    assert [columns(line) for line in services[1:]] == [
        ["mysql", "mysql", "alive", "1"],
        ["wordpress", "wordpress", "alive", "2"],
    ]

    assert columns(units[0]) == [
        "UNIT",
        "AGENT",
        "LIFE",
        "STATUS",
        "HOOK",
        "ADDRESS",
        "PORTS",
        "MESSAGE",
    ]
    rows = {columns(line)[0]: line for line in units[1:]}
    assert list(rows) == ["mysql/0", "wordpress/0", "wordpress/1"]
    assert columns(rows["mysql/0"]) == [
        "mysql/0",
        "down",
        "alive",
        "error (retry)",
        "install",
        "hook failed: 'install'",
    ]
    assert columns(rows["wordpress/0"]) == [
        "wordpress/0",
        "down",
        "alive",
        "active",
        "start",
        "wp0.example.com",
        "8080/tcp,53/udp",
        "serving the blog",
    ]
    assert columns(rows["wordpress/1"]) == ["wordpress/1", "down", "dying", "pending"]
    # The columns line up: each header starts where its cells start.
    header = units[0]
    for name, cell in (("HOOK", "install"), ("STATUS", "error (retry)")):
        assert rows["mysql/0"].index(cell) == header.index(name)
    assert rows["wordpress/0"].index("8080/tcp") == header.index("PORTS")

    assert columns(relations[0]) == ["RELATION", "KEY", "LIFE", "IN SCOPE"]
    assert [columns(line) for line in relations[1:]] == [
        ["0", "mysql:cluster", "alive"],
        ["1", "wordpress:db mysql:server", "alive", "wordpress/0"],
    ]
    # No line ends in spaces.
    assert all(line == line.rstrip() for line in result.stdout.splitlines())


def test_json_holds_services_units_and_relations(populated):
    status = populated.status()
    assert set(status) == {"services", "relations"}
    wordpress = status["services"]["wordpress"]
    assert wordpress["charm"] == "wordpress"
    assert wordpress["life"] == "alive"
    assert wordpress["config"] == {"port": 8080}
    assert wordpress["units"]["wordpress/0"] == {
        "agent": "down",  # no agent runs in these tests
        "life": "alive",
        "status": "active",
        "message": "serving the blog",
        "hook": "start",
        "public-address": "wp0.example.com",
        "private-address": "10.0.0.5",
        "ports": ["8080/tcp", "53/udp"],
    }
    assert wordpress["units"]["wordpress/1"]["life"] == "dying"
    assert wordpress["units"]["wordpress/1"]["status"] == "pending"
    assert wordpress["units"]["wordpress/1"]["hook"] is None
    mysql = status["services"]["mysql"]["units"]["mysql/0"]
    assert (mysql["status"], mysql["hook"], mysql["resolved"]) == ("error", "install", "retry")
    assert status["relations"] == [
        {"id": 0, "key": "mysql:cluster", "life": "alive", "scope": []},
        {"id": 1, "key": "wordpress:db mysql:server", "life": "alive", "scope": ["wordpress/0"]},
    ]


def test_yaml_holds_the_same_as_json(populated):
    assert populated.status_yaml() == populated.status()


def test_status_shows_a_dying_relation(populated):
    populated.ok("unrelate", "wordpress:db", "mysql:server")
    relations = {r["key"]: r for r in populated.status()["relations"]}
    assert relations["wordpress:db mysql:server"]["life"] == "dying"
    table = populated.ok("status").stdout
    assert "wordpress:db mysql:server  dying" in table


def test_status_refuses_an_unknown_format(populated):
    result = populated("status", "--format", "xml")
    assert result.returncode == 2, str(result)
    assert "invalid choice: 'xml'" in result.stderr


def test_status_does_not_create_a_state_where_it_cannot(cli, tmp_path):
    url = f"sqlite:///{tmp_path / 'missing' / 'state.db'}"
    result = cli.fails("status", "--state", url)
    assert "cannot open the state" in result.stderr
    assert not (tmp_path / "missing").exists()
