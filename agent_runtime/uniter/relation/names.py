"""Unit names, and the file names they become in a relation state directory.

A unit name is ``<service>/<number>`` as juju defines them: the service is
lowercase letters, digits and hyphens, starts with a letter, and each
hyphen-separated part holds a letter (so ``foo-1`` is not a service name); the
number is a non-negative decimal integer without leading zeros. Only such names
become file names: ``foo-bar/1`` is stored as ``foo-bar-1`` (the ``/``
replaced by ``-``), and the mapping back (split at the *last* ``-``) is exact.
Anything else (``../x/0``, ``/etc/passwd``, ``a/b/c``, ``foo/-1``) is refused
before it can name a file.
"""

from __future__ import annotations

import re

from agent_runtime.uniter.hook import quote
from agent_runtime.uniter.relation.errors import InvalidUnitName

__all__ = ["check_unit_name", "is_unit_name", "unit_file_name", "unit_from_file_name"]

_SERVICE = r"[a-z][a-z0-9]*(?:-[a-z0-9]*[a-z][a-z0-9]*)*"
_NUMBER = r"(?:0|[1-9][0-9]*)"
_UNIT = re.compile(rf"(?P<service>{_SERVICE})/(?P<number>{_NUMBER})")
_FILE = re.compile(rf"(?P<service>{_SERVICE})-(?P<number>{_NUMBER})")


def is_unit_name(name: object) -> bool:
    """True if ``name`` is a valid unit name (``service/N``)."""
    return isinstance(name, str) and _UNIT.fullmatch(name) is not None


def check_unit_name(name: object) -> str:
    """Return ``name`` if it is a valid unit name; raise ``InvalidUnitName``
    saying what is wrong otherwise."""
    if not isinstance(name, str):
        raise InvalidUnitName(f"a unit name must be a str, not {name!r}")
    if _UNIT.fullmatch(name) is None:
        raise InvalidUnitName(
            f"invalid unit name {quote(name)}: expected <service>/<number>: a service name "
            "of lowercase letters, digits and hyphens, starting with a letter, each "
            "hyphen-separated part holding a letter; a number without sign or leading zeros"
        )
    return name


def unit_file_name(unit: str) -> str:
    """The file name of ``unit`` in a relation directory (``foo-bar/1`` →
    ``foo-bar-1``). Raises ``InvalidUnitName`` for anything but a unit name."""
    return check_unit_name(unit).replace("/", "-", 1)


def unit_from_file_name(name: str) -> str | None:
    """The unit whose file is called ``name`` (``foo-bar-1`` → ``foo-bar/1``),
    or None when ``name`` is not a unit file name (``27``, ``nonsensical``,
    ``foo-1.preparing``)."""
    match = _FILE.fullmatch(name)
    if match is None:
        return None
    return f"{match['service']}/{match['number']}"
