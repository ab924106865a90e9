"""Charms made on the fly for the unit agent's tests.

Every hook first appends ``<hook> <remote unit or ->`` to
``$AGENT_RUNTIME_CHARM_DATA/<unit>/hooks.log``, then runs its body (shell).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import yaml

PREAMBLE = """#!/bin/sh
set -e
data="$AGENT_RUNTIME_CHARM_DATA/$JUJU_UNIT_NAME"
mkdir -p "$data"
echo "$(basename "$0") ${JUJU_REMOTE_UNIT:--}" >> "$data/hooks.log"
"""


def make_charm(
    root: Path,
    name: str,
    metadata: dict | None = None,
    options: dict | None = None,
    hooks: dict[str, str] | None = None,
    plain: tuple[str, ...] = (),
) -> str:
    """Write a charm directory ``root/name``; ``hooks`` maps hook file names to
    shell bodies, ``plain`` names hooks that only log. Returns its path."""
    directory = root / name
    (directory / "hooks").mkdir(parents=True, exist_ok=True)
    (directory / "metadata.yaml").write_text(yaml.safe_dump({"name": name, **(metadata or {})}))
    if options is not None:
        (directory / "config.yaml").write_text(yaml.safe_dump({"options": options}))
    for hook in plain:
        write_hook(str(directory), hook, "")
    for hook, body in (hooks or {}).items():
        write_hook(str(directory), hook, body)
    return str(directory)


def write_hook(charm_dir: str, hook: str, body: str) -> None:
    path = os.path.join(charm_dir, "hooks", hook)
    with open(path, "w") as stream:
        stream.write(PREAMBLE + body + "\n")
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def hooks_seen(data_dir: str, unit: str) -> list[str]:
    """The lines ``<hook> <remote>`` the unit's hooks wrote, in order."""
    path = os.path.join(data_dir, "charm-data", unit, "hooks.log")
    try:
        with open(path) as stream:
            return stream.read().splitlines()
    except FileNotFoundError:
        return []
