"""Flags of the hook tools, parsed as juju's ``gnuflag`` did (GNU style,
mixed with positional arguments), with its error texts and its help layout.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = [
    "BoolValue",
    "FlagSet",
    "HelpRequested",
    "StringValue",
    "UsageError",
    "Value",
    "go_quote",
]


class UsageError(ValueError):
    """A command line that does not parse: the command exits with code 2."""


class HelpRequested(Exception):
    """``-h`` or ``--help`` was given (and the command does not define them)."""


def go_quote(text: str) -> str:
    """``text`` double-quoted as Go's ``%q`` does (``strconv.Quote``)."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch.isprintable() and not 0xD800 <= code <= 0xDFFF:
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


# -- flag values -------------------------------------------------------------------


class Value:
    """What a flag holds: ``set(text)`` parses a command-line value (raising
    ``ValueError`` with the message to show), ``value`` is the result, and
    ``str()`` is what the help shows as the default."""

    #: Bool flags take no argument (``--all``), or an ``=value`` on a long name.
    is_bool = False
    #: String flags show their default Go-quoted and after one space only.
    quoted = False

    def __init__(self, value: object = None) -> None:
        self.value = value

    def set(self, text: str) -> None:
        raise NotImplementedError

    def __str__(self) -> str:
        return "" if self.value is None else str(self.value)


class StringValue(Value):
    quoted = True

    def __init__(self, value: str = "") -> None:
        super().__init__(value)

    def set(self, text: str) -> None:
        self.value = text


_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


class BoolValue(Value):
    is_bool = True

    def __init__(self, value: bool = False) -> None:
        super().__init__(value)

    def set(self, text: str) -> None:
        if text in _TRUE:
            self.value = True
        elif text in _FALSE:
            self.value = False
        else:
            raise ValueError(f"parse error: {text!r} is not a boolean")

    def __str__(self) -> str:
        return "true" if self.value else "false"


class _Flag:
    __slots__ = ("default", "names", "usage", "value")

    def __init__(self, names: tuple[str, ...], value: Value, usage: str) -> None:
        self.names = names
        self.value = value
        self.usage = usage
        self.default = str(value)  # what the help shows, taken before parsing


def _dashed(name: str) -> str:
    return ("--" if len(name) > 1 else "-") + name


class FlagSet:
    """The flags of one command, and the parser of its command line."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._flags: list[_Flag] = []
        self._by_name: dict[str, _Flag] = {}

    def add(self, names: str | Iterable[str], value: Value, usage: str) -> Value:
        """Define a flag with one or more names (``"o"``, ``("o", "output")``)
        sharing ``value``; return ``value``."""
        names = (names,) if isinstance(names, str) else tuple(names)
        flag = _Flag(tuple(sorted(names, key=lambda n: (len(n), n))), value, usage)
        for name in names:
            if not name or name.startswith("-") or name in self._by_name:
                raise ValueError(f"bad or duplicate flag name {name!r}")
            self._by_name[name] = flag
        self._flags.append(flag)
        return value

    def string(self, names: str | Iterable[str], default: str, usage: str) -> StringValue:
        return self.add(names, StringValue(default), usage)  # type: ignore[return-value]

    def bool(self, names: str | Iterable[str], default: bool, usage: str) -> BoolValue:
        return self.add(names, BoolValue(default), usage)  # type: ignore[return-value]

    def __bool__(self) -> bool:
        return bool(self._flags)

    def parse(self, args: Sequence[str]) -> list[str]:
        """Set the flags found in ``args``; return the positional arguments.

        Raises ``HelpRequested`` or ``UsageError``.
        """
        positional: list[str] = []
        i = 0
        while i < len(args):
            arg = args[i]
            i += 1
            if len(arg) < 2 or arg[0] != "-":
                positional.append(arg)
            elif arg == "--":
                positional.extend(args[i:])
                break
            elif arg.startswith("--"):
                i = self._parse_long(arg[2:], args, i)
            else:
                i = self._parse_short(arg[1:], args, i)
        return positional

    def _lookup(self, name: str) -> _Flag:
        flag = self._by_name.get(name)
        if flag is None:
            if name in ("h", "help"):
                raise HelpRequested()
            raise UsageError(f"flag provided but not defined: {_dashed(name)}")
        return flag

    def _parse_long(self, text: str, args: Sequence[str], i: int) -> int:
        name, has_value, value = text.partition("=")
        flag = self._lookup(name)
        if not has_value:
            if flag.value.is_bool:
                value = "true"
            elif i < len(args):
                value, i = args[i], i + 1
            else:
                raise UsageError(f"flag needs an argument: {_dashed(name)}")
        self._set(flag, name, value)
        return i

    def _parse_short(self, letters: str, args: Sequence[str], i: int) -> int:
        while letters:
            name, letters = letters[0], letters[1:]
            flag = self._lookup(name)
            if flag.value.is_bool:
                self._set(flag, name, "true")
                continue
            if letters:
                value, letters = letters, ""
            elif i < len(args):
                value, i = args[i], i + 1
            else:
                raise UsageError(f"flag needs an argument: {_dashed(name)}")
            self._set(flag, name, value)
        return i

    @staticmethod
    def _set(flag: _Flag, name: str, text: str) -> None:
        try:
            flag.value.set(text)
        except ValueError as error:
            raise UsageError(f"invalid value {go_quote(text)} for flag {_dashed(name)}: {error}")

    def defaults(self) -> str:
        """gnuflag's ``PrintDefaults``: one entry per flag (names sharing a value
        together, by length), entries sorted by their shortest name."""
        lines = []
        for flag in sorted(self._flags, key=lambda f: f.names[0]):
            names = ", ".join(_dashed(n) for n in flag.names)
            if flag.value.quoted:
                lines.append(f"{names} (= {go_quote(flag.default)})\n")
            else:
                lines.append(f"{names}  (= {flag.default})\n")
            lines.append(f"    {flag.usage}\n")
        return "".join(lines)
