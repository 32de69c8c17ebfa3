"""Positions between netlang and the editor: netlang counts lines and columns from 1 in code points, LSP
counts from 0 in the units the client and server agreed on (UTF-16 code units unless it chose UTF-8 or
UTF-32). Lines are split at '\\n' only, as netlang's parser counts them (a '\\r' before it is part of the line).
"""

from __future__ import annotations

from collections.abc import Callable

from lsprotocol import types

Units = Callable[[str], int]


def utf16_units(text: str) -> int:
    """The UTF-16 code units of text (a character past U+FFFF takes two; a lone surrogate one)."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def utf8_units(text: str) -> int:
    """The UTF-8 bytes of text (a lone surrogate counts as the three bytes it would take)."""
    return len(text.encode("utf-8", "surrogatepass"))


UNITS: dict[str, Units] = {"utf-16": utf16_units, "utf-8": utf8_units, "utf-32": len}


def units_for(encoding: object) -> Units:
    """The unit counter of a position encoding the client and server agreed on (lsprotocol's
    PositionEncodingKind or its text); UTF-16, LSP's default, for none or one unknown."""
    return UNITS.get(str(getattr(encoding, "value", encoding) or "utf-16"), utf16_units)


class Lines:
    """A document's lines, to turn positions one way and the other."""

    def __init__(self, text: str, units: Units = utf16_units) -> None:
        self.lines = text.split("\n")
        self.units = units

    def position(self, line: int, col: int) -> types.Position:
        """The LSP position of netlang's (line, col), both from 1; clamped into the document."""
        index = min(max(line, 1), len(self.lines)) - 1
        text = self.lines[index]
        return types.Position(line=index, character=self.units(text[: max(col, 1) - 1]))

    def range(self, line: int | None, col: int | None, span: int = 1) -> types.Range:
        """The LSP range of `span` characters from netlang's (line, col) (the whole first line when unknown)."""
        if line is None:
            return types.Range(start=self.position(1, 1), end=self.position(1, len(self.lines[0]) + 1))
        col = col or 1
        return types.Range(start=self.position(line, col), end=self.position(line, col + max(span, 1)))

    def point(self, position: types.Position) -> tuple[int, int]:
        """netlang's (line, col) of an LSP position; a character past the line's end is its end."""
        index = min(max(position.line, 0), len(self.lines) - 1)
        text = self.lines[index]
        target, count = position.character, 0
        for offset, char in enumerate(text):
            if count >= target:
                return index + 1, offset + 1
            count += self.units(char)
        return index + 1, len(text) + 1

    def end(self) -> types.Position:
        """The position just after the last character."""
        return types.Position(line=len(self.lines) - 1, character=self.units(self.lines[-1]))
