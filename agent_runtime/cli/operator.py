"""The operator's commands: deploy, add-unit, set-config, relate, unrelate,
destroy-unit, resolved. Each opens the state, makes one checked change, and
says what it did; a refused change leaves the state as it was."""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Iterator

from agent_runtime.cli import CommandError
from agent_runtime.cli.common import add_state_option, default_state_url


@contextlib.contextmanager
def open_state(args: argparse.Namespace) -> Iterator:
    """The state of ``--state`` (default: the embedded one), closed after use;
    state errors become command errors."""
    from agent_runtime import state as state_module

    url = args.state or default_state_url()
    try:
        state = state_module.open(url)
    except state_module.StateError as error:
        raise CommandError(f"cannot open the state {url!r}: {error}") from None
    try:
        yield state
    except state_module.StateError as error:
        raise CommandError(str(error)) from None
    finally:
        state.close()


def add_parser(subparsers) -> None:
    def command(name: str, func, help: str, description: str | None = None):
        parser = subparsers.add_parser(name, help=help, description=description or help)
        add_state_option(parser)
        parser.set_defaults(func=func)
        return parser

    parser = command("deploy", deploy, "add a service running a charm")
    parser.add_argument("service", metavar="SERVICE")
    parser.add_argument("--charm", metavar="DIR", required=True, help="the charm directory")
    parser.add_argument(
        "-n", "--num-units", type=int, default=0, metavar="N", help="also add N units"
    )

    parser = command("add-unit", add_unit, "add units to a service")
    parser.add_argument("service", metavar="SERVICE")
    parser.add_argument("-n", "--num-units", type=int, default=1, metavar="N")

    parser = command(
        "set-config",
        set_config,
        "set a service's config values",
        "Set config values of SERVICE, each KEY=VALUE converted to its option's type "
        "(string, int, float, boolean); KEY= resets the option to its default.",
    )
    parser.add_argument("service", metavar="SERVICE")
    parser.add_argument("settings", nargs="+", metavar="KEY=VALUE")

    parser = command(
        "relate",
        relate,
        "relate two services (or one, by a peer endpoint)",
        "Relate SERVICE:ENDPOINT to SERVICE:ENDPOINT. A bare SERVICE stands for its one "
        "endpoint that fits; one endpoint alone makes a peer relation.",
    )
    parser.add_argument("endpoints", nargs="+", metavar="SERVICE[:ENDPOINT]")

    parser = command("unrelate", unrelate, "end a relation")
    parser.add_argument("endpoints", nargs="+", metavar="SERVICE[:ENDPOINT]")

    parser = command("destroy-unit", destroy_unit, "ask units to go away")
    parser.add_argument("units", nargs="+", metavar="UNIT")

    parser = command(
        "resolved",
        resolved,
        "tell a unit in error to go on",
        "Tell UNIT, whose hook failed, to go on: skip the failed hook, or run it again "
        "with --retry.",
    )
    parser.add_argument("unit", metavar="UNIT")
    parser.add_argument("--retry", action="store_true", help="run the failed hook again")


def deploy(args: argparse.Namespace) -> int:
    from agent_runtime.state import InvalidValue
    from agent_runtime.state.charm import read_charm_dir

    try:
        charm = read_charm_dir(args.charm)
    except InvalidValue as error:
        raise CommandError(str(error)) from None
    if args.num_units < 0:
        raise CommandError("--num-units cannot be negative", code=2)
    with open_state(args) as state:
        state.add_service(args.service, charm)
        print(f"deployed {args.service} (charm {charm.name})")
        for _ in range(args.num_units):
            print(f"added unit {state.add_unit(args.service)}")
    return 0


def add_unit(args: argparse.Namespace) -> int:
    if args.num_units < 1:
        raise CommandError("--num-units must be at least 1", code=2)
    with open_state(args) as state:
        for _ in range(args.num_units):
            print(f"added unit {state.add_unit(args.service)}")
    return 0


def set_config(args: argparse.Namespace) -> int:
    with open_state(args) as state:
        charm = state.service(args.service).charm
        changes, reset = {}, []
        for setting in args.settings:
            key, sep, value = setting.partition("=")
            if not sep or not key:
                raise CommandError(f"expected KEY=VALUE, got {setting!r}", code=2)
            option = charm.options.get(key)
            if option is None:
                known = ", ".join(sorted(charm.options)) or "none"
                raise CommandError(f"charm {charm.name!r} has no option {key!r} (options: {known})")
            # KEY= resets any option, a string one too (as juju's
            # ParseSettingsStrings: an empty value means "unset").
            if value == "":
                changes.pop(key, None)
                reset.append(key)
            else:
                changes[key] = option.parse(value)
                reset = [k for k in reset if k != key]
        state.update_service_config(args.service, changes, remove=reset)
        for key, value in changes.items():
            print(f"{args.service}: {key} = {json.dumps(value)}")
        for key in dict.fromkeys(reset):
            default = json.dumps(charm.options[key].default)
            print(f"{args.service}: {key} reset to its default ({default})")
    return 0


def relate(args: argparse.Namespace) -> int:
    with open_state(args) as state:
        relation = state.add_relation(*args.endpoints)
        print(f"related {relation.key} (relation {relation.id})")
    return 0


def unrelate(args: argparse.Namespace) -> int:
    with open_state(args) as state:
        relation = state.find_relation(*args.endpoints)
        state.destroy_relation(relation.id)
        print(f"ending relation {relation.key} (relation {relation.id})")
    return 0


def destroy_unit(args: argparse.Namespace) -> int:
    with open_state(args) as state:
        for unit in args.units:
            state.unit(unit)  # check them all before changing any
        for unit in args.units:
            state.destroy_unit(unit)
            print(f"destroying {unit}")
    return 0


def resolved(args: argparse.Namespace) -> int:
    with open_state(args) as state:
        state.resolve_unit(args.unit, retry=args.retry)
        print(f"{args.unit}: {'retrying' if args.retry else 'skipping'} the failed hook")
    return 0
