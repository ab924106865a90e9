"""YAML for the hook tools' ``yaml`` and ``smart`` formats, as juju's goyaml
wrote it, where that gives the same values to the charms that parse it.

Block style, map keys in goyaml's order (letters by code point, runs of digits
by number), ``null``/``true``/``false``, integral floats without ``.0``
(``45``), strings plain when they can be and mean a string, double-quoted when
the plain text would mean something else (``"12345"``, ``"true"``, ``""``),
single-quoted when they must be quoted and can be (``'foo: bar\\n\\n'``,
multi-line strings with no indentation before the closing quote), else
double-quoted with escapes.

Where goyaml's bytes would give a charm another value, the value wins
(DESIGN.md decision 8): a float that goyaml writes as ``1e+02`` (a string to
PyYAML) is written ``100``; a string that a YAML parser reads as a date, an
octal or a float (``2014-01-01``, ``0o17``, ``1e3``) is quoted. Which plain
scalars are safe is decided by PyYAML's analysis, a port of libyaml's, the C
library goyaml was translated from. Long lines are not folded.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence

from yaml import ScalarNode
from yaml.emitter import Emitter
from yaml.resolver import Resolver

__all__ = ["dump", "format_float", "key_order"]

_STR_TAG = "tag:yaml.org,2002:str"
_ANALYZER = Emitter(None, allow_unicode=True)
_RESOLVER = Resolver()
#: Scalars that some YAML 1.1 parsers read as booleans although PyYAML does not.
_OTHER_BOOLS = frozenset({"y", "Y", "n", "N"})
#: An implicit key must fit in 1024 characters; longer ones are written "? key".
_SIMPLE_KEY_LIMIT = 1000


def dump(value: object) -> str:
    """``value`` (None, bool, int, float, str, a mapping or a sequence of them)
    as a YAML document ending with one newline."""
    if isinstance(value, Mapping):
        return _mapping(value, 0) if value else "{}\n"
    if _is_sequence(value):
        return _sequence(value, 0) if value else "[]\n"  # type: ignore[arg-type]
    return _scalar(value, 2) + "\n"  # continuation lines indented as libyaml does


def _is_sequence(value: object) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def _mapping(value: Mapping, indent: int) -> str:
    pad = " " * indent
    out = []
    for key in sorted(value, key=key_order):
        item = value[key]
        text = _key(key, indent)
        if isinstance(item, Mapping) and item:
            out.append(f"{pad}{text}:\n{_mapping(item, indent + 2)}")
        elif _is_sequence(item) and item:
            out.append(f"{pad}{text}:\n{_sequence(item, indent)}")
        else:
            out.append(f"{pad}{text}: {_inline(item, indent + 2)}\n")
    return "".join(out)


def _sequence(value: Sequence, indent: int) -> str:
    pad = " " * indent
    out = []
    for item in value:
        if isinstance(item, Mapping) and item:
            out.append(f"{pad}- {_mapping(item, indent + 2)[indent + 2 :]}")
        elif _is_sequence(item) and item:
            out.append(f"{pad}- {_sequence(item, indent + 2)[indent + 2 :]}")
        else:
            out.append(f"{pad}- {_inline(item, indent + 2)}\n")
    return "".join(out)


def _inline(item: object, indent: int) -> str:
    """A value that fits after ``key: `` or ``- ``: a scalar or an empty collection."""
    if isinstance(item, Mapping):
        return "{}"
    if _is_sequence(item):
        return "[]"
    return _scalar(item, indent)


def _key(key: object, indent: int) -> str:
    if not isinstance(key, str):
        return _scalar(key, indent)
    if "\n" in key or len(key) > _SIMPLE_KEY_LIMIT:
        text = _double_quoted(key)
        return text if len(text) <= _SIMPLE_KEY_LIMIT else f"? {text}\n{' ' * indent}"
    return _string(key, indent)


def _scalar(value: object, indent: int) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, str):
        return _string(value, indent)
    raise TypeError(f"cannot marshal {value!r}")


def format_float(value: float) -> str:
    """A float as YAML that every parser reads back as the same number:
    integral values without a fraction (``45``, as goyaml), others with a
    fraction or an exponent that PyYAML accepts (``4.5``, ``1.0e-07``)."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    mantissa, e, exponent = text.partition("e")
    if e:
        if "." not in mantissa:
            mantissa += ".0"
        if exponent[0] not in "+-":
            exponent = "+" + exponent
        return f"{mantissa}e{exponent}"
    return text


def _means_a_string(text: str) -> bool:
    """Whether plain ``text`` is read back as this string by YAML parsers."""
    if _RESOLVER.resolve(ScalarNode, text, (True, False)) != _STR_TAG:
        return False
    if text in _OTHER_BOOLS:
        return False
    for parse in (float, functools.partial(int, base=0)):
        try:
            parse(text)
        except ValueError:
            continue
        return False
    return True


def _string(text: str, indent: int) -> str:
    if not _means_a_string(text):
        return _double_quoted(text)
    analysis = _ANALYZER.analyze_scalar(text)
    if analysis.allow_block_plain and not analysis.multiline:
        return text
    other_breaks = "\x85" in text or "\u2028" in text or "\u2029" in text
    if analysis.allow_single_quoted and not other_breaks:
        return _single_quoted(text, indent)
    return _double_quoted(text)


def _single_quoted(text: str, indent: int) -> str:
    """libyaml's single-quoted style, without folding: a line break is written
    as two (one is folded away when read), the next line is indented."""
    out = ["'"]
    breaks = False
    for ch in text:
        if ch == "\n":
            out.append("\n\n" if not breaks else "\n")
            breaks = True
            continue
        if breaks:
            out.append(" " * indent)
            breaks = False
        out.append("''" if ch == "'" else ch)
    out.append("'")
    return "".join(out)


_DOUBLE_ESCAPES = {
    "\0": "\\0",
    "\a": "\\a",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\v": "\\v",
    "\f": "\\f",
    "\r": "\\r",
    "\x1b": "\\e",
    '"': '\\"',
    "\\": "\\\\",
    "\x85": "\\N",
    "\xa0": "\\_",
    "\u2028": "\\L",
    "\u2029": "\\P",
}


def _printable(ch: str) -> bool:
    code = ord(ch)
    return (
        0x20 <= code <= 0x7E
        or 0xA0 <= code <= 0xD7FF
        or (0xE000 <= code <= 0xFFFD and code != 0xFEFF)
        or 0x10000 <= code <= 0x10FFFF
    )


def _double_quoted(text: str) -> str:
    out = ['"']
    for ch in text:
        escape = _DOUBLE_ESCAPES.get(ch)
        if escape is not None:
            out.append(escape)
        elif _printable(ch):
            out.append(ch)
        else:
            code = ord(ch)
            if code <= 0xFF:
                out.append(f"\\x{code:02X}")
            elif code <= 0xFFFF:
                out.append(f"\\u{code:04X}")
            else:
                out.append(f"\\U{code:08X}")
    out.append('"')
    return "".join(out)


# -- goyaml's key order ------------------------------------------------------------------


def _compare_keys(a: object, b: object) -> int:
    """goyaml's ``keyList.Less`` for the keys we meet: numbers by value and
    before strings; strings rune by rune, letters by code point, a non-letter
    before a letter, runs of digits by their number."""
    a_num, b_num = _key_number(a), _key_number(b)
    if a_num is not None and b_num is not None:
        return (a_num > b_num) - (a_num < b_num)
    if not isinstance(a, str) or not isinstance(b, str):
        return (a_num is None) - (b_num is None)
    for i in range(min(len(a), len(b))):
        x, y = a[i], b[i]
        if x == y:
            continue
        x_letter, y_letter = x.isalpha(), y.isalpha()
        if x_letter and y_letter:
            return -1 if x < y else 1
        if x_letter or y_letter:
            return 1 if x_letter else -1
        x_end, x_number = _digits(a, i)
        y_end, y_number = _digits(b, i)
        if x_number != y_number:
            return -1 if x_number < y_number else 1
        if x_end != y_end:
            return -1 if x_end < y_end else 1
        return -1 if x < y else 1
    return (len(a) > len(b)) - (len(a) < len(b))


def _key_number(key: object) -> float | None:
    if isinstance(key, bool) or not isinstance(key, int | float):
        return None
    return float(key)


def _digits(text: str, start: int) -> tuple[int, int]:
    end, number = start, 0
    while end < len(text) and "0" <= text[end] <= "9":
        number = number * 10 + ord(text[end]) - 48
        end += 1
    return end, number


#: A sort key giving goyaml's order of map keys.
key_order = functools.cmp_to_key(_compare_keys)
