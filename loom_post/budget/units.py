"""Parsing the sizes people write in configuration: "100 kB", "2 KiB", "1%".

Budgets are written the way size-limit and bundlesize users write them, in human
units, and compared in exact integer bytes. Both decimal (kB = 1000) and binary
(KiB = 1024) units are accepted, spelled exactly; "KB", "kb", "mb" are refused
rather than guessed, because half the world reads them as 1000 and half as 1024.
A growth allowance may also be a percentage of a reference size ("1%"), resolved
to bytes only when the reference (the optimizer's input or the baseline) is known.
"""

from __future__ import annotations

import re

# decimal is imported where a size or percentage string is read: a configuration
# without any (the defaults) never needs it, and its import cost every run ~1 ms.

UNITS = {
    "B": 1,
    "kB": 1000, "KiB": 1024,
    "MB": 1000 ** 2, "MiB": 1024 ** 2,
    "GB": 1000 ** 3, "GiB": 1024 ** 3,
}
_AMBIGUOUS = {"KB": "kB (1000 bytes) or KiB (1024 bytes)",
              "kb": "kB (1000 bytes) or KiB (1024 bytes)",
              "Kb": "kB (1000 bytes) or KiB (1024 bytes)",
              "mb": "MB (1000000 bytes) or MiB (1048576 bytes)",
              "Mb": "MB (1000000 bytes) or MiB (1048576 bytes)",
              "gb": "GB or GiB", "Gb": "GB or GiB",
              "kiB": "KiB", "kib": "KiB", "KIB": "KiB", "mib": "MiB", "MIB": "MiB",
              "b": "B", "bytes": "B", "byte": "B"}
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$")
_PERCENT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*$")


class UnitError(ValueError):
    """The value is not a size; str() says what would have been accepted."""


class Percent:
    """A growth allowance relative to a reference size, e.g. 1% of the baseline."""

    def __init__(self, value: Decimal, text: str | None = None):
        self.value = value
        self.text = text or f"{value}%"

    def of(self, reference: int) -> int:
        """The allowance in whole bytes (rounded down) for a reference size."""
        from decimal import ROUND_FLOOR, Decimal
        return int((Decimal(reference) * self.value / 100).to_integral_value(ROUND_FLOOR))

    def __eq__(self, other):
        return isinstance(other, Percent) and other.value == self.value

    def __repr__(self):
        return f"Percent({self.text!r})"

    def __str__(self):
        return self.text


def parse_size(value) -> int:
    """Bytes for an integer (bytes) or a string such as "100 kB", "2 KiB", "0 B"."""
    if isinstance(value, bool):
        raise UnitError("expected a size such as \"100 kB\", \"2 KiB\" or a number of bytes")
    if isinstance(value, int):
        if value < 0:
            raise UnitError("a size cannot be negative")
        return value
    if not isinstance(value, str):
        raise UnitError("expected a size such as \"100 kB\", \"2 KiB\" or a number of bytes")
    m = _SIZE.match(value)
    if not m:
        if value.strip().startswith("-"):
            raise UnitError("a size cannot be negative")
        raise UnitError("expected a number and a unit (B, kB, KiB, MB, MiB, GB, GiB), "
                        "e.g. \"100 kB\"")
    number, unit = m.group(1), m.group(2) or "B"
    if unit not in UNITS:
        if unit in _AMBIGUOUS:
            raise UnitError(f"unit {unit!r} is ambiguous or misspelled: write {_AMBIGUOUS[unit]}")
        raise UnitError(f"unknown unit {unit!r}: use B, kB, KiB, MB, MiB, GB or GiB")
    from decimal import Decimal, InvalidOperation
    try:
        amount = Decimal(number) * UNITS[unit]
    except InvalidOperation:  # pragma: no cover - the regex admits only digits
        raise UnitError("not a number")
    if amount != amount.to_integral_value():
        raise UnitError(f"{value.strip()!r} is not a whole number of bytes")
    return int(amount)


def parse_growth(value):
    """A growth allowance: bytes (int) for sizes, a Percent for "1%" or "0.5 %"."""
    if isinstance(value, str):
        m = _PERCENT.match(value)
        if m:
            from decimal import Decimal
            return Percent(Decimal(m.group(1)), value.strip())
        if value.strip().startswith("-"):
            raise UnitError("a growth allowance cannot be negative")
    try:
        return parse_size(value)
    except UnitError as e:
        raise UnitError(f"{e}, or a percentage such as \"1%\"")


def allowance(spec, reference: int) -> int:
    """Bytes allowed by a growth spec (bytes or Percent) against `reference` bytes."""
    return spec.of(reference) if isinstance(spec, Percent) else int(spec)
# Signed differences and percentages, shared by every report.


def signed(n):
    return f"+{n}" if n > 0 else str(n)


def percent(new, old):
    if not old:
        return "n/a" if new else "+0.00%"
    p = 100.0 * (new - old) / old
    return f"{p:+.2f}%"
