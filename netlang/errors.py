"""The error family: every problem a user can cause is a NetlangError that knows where it happened.

A located error prints as

    FILE:LINE:COL: message
        the source line
        ^~~~

and the command line turns it into exit code 1 (2 for UsageError), never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class NetlangError(Exception):
    """A user-facing error, optionally located at FILE:LINE:COL with the source line shown."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        col: int | None = None,
        span: int = 1,
        source_line: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.col = col
        self.span = max(1, span)
        self.source_line = source_line
        self.quote_file = True  # False: never read self.file for the source line (it was named by an input)
        self.json_path: list[str | int] | None = None  # where in an IR file's JSON the error is, if known

    def at(self, pos: dict[str, Any] | None, file: str | None = None) -> NetlangError:
        """Fill in the location from an IR `pos` dict ({"line", "col", optional "span"}), if not already set."""
        if isinstance(pos, dict) and self.line is None and _whole(pos.get("line")) and _whole(pos.get("col")):
            self.line = pos["line"]
            self.col = pos["col"]
            self.span = max(1, pos["span"]) if _whole(pos.get("span")) else 1
        if file and self.file is None:
            self.file = file
        return self

    def with_source(self, text: str | None) -> NetlangError:
        """Attach the offending source line from the full source text, if the error is located in it."""
        if self.source_line is None and text is not None and self.line is not None:
            lines = text.splitlines()
            if 1 <= self.line <= len(lines):
                self.source_line = lines[self.line - 1]
        return self

    def format(self) -> str:
        """The message as shown to a user: location prefix, message, then source line with a caret."""
        prefix = ""
        if self.file is not None:
            prefix = self.file
            if self.line is not None:
                prefix += f":{self.line}"
                if self.col is not None:
                    prefix += f":{self.col}"
            prefix += ": "
        elif self.line is not None:
            prefix = f"line {self.line}, column {self.col}: "
        text = printable(prefix + self.message)
        if self.source_line is None and self.file and self.line is not None and self.quote_file:
            self.with_source(_read_quietly(self.file))
        if self.source_line is not None and isinstance(self.col, int):
            shown = self.source_line.replace("\t", " ").rstrip("\r\n")
            quoted = _quoted_line(shown, self.col, self.span)
            if quoted is not None:
                text += "\n    {}\n    {}".format(*quoted)
        return text

    def __str__(self) -> str:
        return self.format()


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def printable(text: str) -> str:
    """Text safe to print on a terminal: control characters (escape sequences) other than line breaks shown
    as \\xNN or \\uNNNN, so a name or line in a hostile file cannot drive the terminal."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() or char == "\n" else repr(char)[1:-1] for char in text)


def _quoted_line(line: str, col: int, span: int) -> tuple[str, str] | None:
    """The source line and its caret line, both at most MAX_SHOWN_LINE characters: a longer line is cut
    around the caret. None when the column is not on the line (a position a hostile IR made up)."""
    from netlang.limits import MAX_SHOWN_LINE

    if not 1 <= col <= len(line) + 1:
        return None
    span = max(1, min(span, len(line) + 1 - col))
    start = 0
    if len(line) > MAX_SHOWN_LINE:
        start = max(0, min(col - 1 - MAX_SHOWN_LINE // 2, len(line) - MAX_SHOWN_LINE))
    end = start + MAX_SHOWN_LINE
    shown = "".join(char if char.isprintable() else "?" for char in line[start:end])
    caret_at = col - 1 - start
    caret = " " * caret_at + "^" + "~" * min(span - 1, MAX_SHOWN_LINE - caret_at - 1)
    if start > 0:
        shown, caret = "..." + shown, "   " + caret
    if end < len(line):
        shown += "..."
    return shown, caret


def _read_quietly(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


class SpecSyntaxError(NetlangError):
    """The spec text does not follow the grammar, or a layer's arguments do not match its signature."""


class SchemaError(NetlangError):
    """The IR breaks the JSON Schema: a wrong type, a value out of range, a missing or unknown field."""


class ShapeError(NetlangError):
    """The network is well formed but means nothing: sizes that do not fit, layers in impossible places."""


class DataError(NetlangError):
    """A data, weights or checkpoint file is missing, malformed, or does not fit the network."""


class TrainingError(NetlangError):
    """Training cannot go on (for example the loss became NaN)."""


class UsageError(NetlangError):
    """The command line itself is wrong: a bad flag, a missing file. Exits with code 2."""

    exit_code = 2


def did_you_mean(word: str, candidates) -> str:
    """' — did you mean 'relu'?' for the closest candidate to a misspelt word, or '' if none is close."""
    import difflib

    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" — did you mean '{close[0]}'?" if close else ""
