"""The output formats of the hook tools (``--format smart|yaml|json``) and
the ``-o``/``--output`` flag (juju's ``cmd.Output``).

The formats give the values juju gave (DESIGN.md decision 8) and, where it
costs nothing, its bytes: ``smart`` prints a string as it is, a list of
strings one per line, a bool as ``True``/``False`` (as pyjuju did), anything
else as YAML; ``yaml`` is goyaml's block style without trailing newlines;
``json`` is Go's ``encoding/json``: compact, keys sorted, ``45`` for an
integral float, ``<``, ``>``, ``&`` escaped. Nothing (None) prints nothing in
smart and yaml, and ``null`` in json.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence

from agent_runtime.uniter.jujuc import goyaml
from agent_runtime.uniter.jujuc.cmd import FlagSet, Invocation, StringValue, Value, encode, go_quote

__all__ = ["FORMATS", "Output", "format_json", "format_smart", "format_yaml"]


def format_yaml(value: object) -> str:
    """goyaml's document for ``value`` without its trailing newlines; "" for None."""
    if value is None:
        return ""
    return goyaml.dump(value).rstrip("\n")


def format_smart(value: object) -> str:
    """juju's ``smart`` format (see the module's doc)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, Sequence) and all(isinstance(item, str) for item in value):
        return "\n".join(value)
    return format_yaml(value)


_HTML_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def format_json(value: object) -> str:
    """Go's ``json.Marshal`` of ``value``: compact, keys sorted, ``null`` for None."""
    text = json.dumps(
        _go_numbers(value),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    # < > & and the two line separators only ever appear inside JSON strings.
    return text.translate(_HTML_ESCAPES)


def _go_numbers(value: object) -> object:
    """Integral floats become ints, as Go writes them (``45``, not ``45.0``)."""
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e21:
            return int(value)
        return value
    if isinstance(value, Mapping):
        return {key: _go_numbers(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_go_numbers(item) for item in value]
    return value


#: The formats by name.
FORMATS: dict[str, Callable[[object], str]] = {
    "json": format_json,
    "smart": format_smart,
    "yaml": format_yaml,
}


class _FormatValue(Value):
    def set(self, text: str) -> None:
        if text not in FORMATS:
            raise ValueError(f"unknown format {go_quote(text)}")
        self.value = text


class Output:
    """The ``--format`` and ``-o``/``--output`` flags of a command that prints
    a value, and the writing of that value."""

    def __init__(self) -> None:
        self._format: Value = _FormatValue("smart")
        self._path: Value = StringValue("")

    def add_flags(self, flags: FlagSet, default: str = "smart") -> None:
        self._format = flags.add(
            "format",
            _FormatValue(default),
            f"specify output format ({'|'.join(sorted(FORMATS))})",
        )
        self._path = flags.string(("o", "output"), "", "specify an output file")

    def write(self, inv: Invocation, value: object) -> None:
        """Format ``value``; write it and a newline, or nothing when it formats
        to nothing, to stdout or to the ``--output`` file (relative to the
        caller's directory; created, or truncated, even when empty)."""
        data = encode(FORMATS[self._format.value](value))  # type: ignore[index]
        if data:
            data += b"\n"
        if self._path.value:
            # Without blocking: a FIFO with no reader is an error, not a stall.
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NONBLOCK | os.O_CLOEXEC
            fd = os.open(inv.abs_path(self._path.value), flags, 0o666)  # type: ignore[arg-type]
            with os.fdopen(fd, "wb") as target:
                target.write(data)
        else:
            inv.stdout.write(data)
