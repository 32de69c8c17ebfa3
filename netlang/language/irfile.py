"""IR files as input: JSON text -> IR dict, bounded before parsing, with errors located in the file itself.

An IR file is read like any other input from a stranger. Before `json.loads` recurses into it, a scan of its
brackets refuses nesting deeper than MAX_NESTING; a whole number of more than MAX_NUMBER_DIGITS digits is
refused while parsing. NaN, Infinity and numbers too large for a float parse, and are then refused by the
schema (netlang/language/schema.py), which types them as no number at all.

An IR file's `pos` fields point into the spec it was compiled from, which is not the file being read, and its
`source` field can name any file. Neither is trusted: errors point into the IR file, at the JSON path of the
offending value and at its line and column (`locate`), and once the IR is valid, `with_file_positions`
replaces its positions with places in the IR file, so the passes after the schema point there too.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_left
from typing import Any

from netlang.errors import SchemaError
from netlang.limits import MAX_NESTING, MAX_NUMBER_DIGITS

# A JSON string (skipped whole, so brackets inside it do not count) or a bracket.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_SPACE = re.compile(r"[ \t\r\n]*")
_LONG_NUMBER = re.compile(r'"(?:[^"\\]|\\.)*"|-?[0-9]{' + str(MAX_NUMBER_DIGITS + 1) + ",}")


class _TooLong(ValueError):
    """A whole number with more digits than MAX_NUMBER_DIGITS."""


def load_ir_json(text: str, filename: str) -> dict[str, Any]:
    """An IR file's text -> its JSON object; SchemaError at the line and column of bad JSON, of nesting past
    MAX_NESTING, or of a whole number of more than MAX_NUMBER_DIGITS digits."""
    check_nesting(text, filename)
    try:
        data = json.loads(text, parse_int=_whole_number)
    except json.JSONDecodeError as err:
        raise _error(f"not valid JSON: {err.msg}", text, filename, err.pos) from None
    except _TooLong:
        offset = next(match.start() for match in _LONG_NUMBER.finditer(text) if match.group()[0] != '"')
        raise _error(
            f"a whole number of more than {MAX_NUMBER_DIGITS} digits; no size, count or seed needs one",
            text, filename, offset,
        ) from None
    except ValueError as err:  # anything else the decoder refuses, without a position
        raise SchemaError(f"not valid JSON: {err}", file=filename) from None
    if not isinstance(data, dict):
        raise SchemaError("an IR file must hold a JSON object with 'netlang', 'input' and 'layers'", file=filename)
    return data


def _whole_number(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise _TooLong(digits)
    return int(digits)


def check_nesting(text: str, filename: str) -> None:
    """Refuse JSON text whose arrays and objects nest deeper than MAX_NESTING, at the bracket that does."""
    depth = 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_NESTING:
                raise _error(
                    f"arrays and objects nest more than {MAX_NESTING} deep here; netlang's own IR files nest 5 deep",
                    text, filename, match.start(),
                )
        elif token in "]}":
            depth -= 1


def check_data_nesting(data: Any, filename: str | None) -> None:
    """Refuse an IR given as data (a dict) whose lists and dicts nest deeper than MAX_NESTING, before the
    schema's validator recurses into it; iterative, so any depth is safe to measure."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_NESTING:
            raise SchemaError(f"the IR's lists and objects nest more than {MAX_NESTING} deep", file=filename)
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list | tuple) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list | tuple))


def locate(text: str, path: list[str | int]) -> tuple[int, int] | None:
    """The line and column where the value at a JSON path starts in (valid) JSON text, or None."""
    wanted = tuple(path)
    if not wanted:
        return _line_col(text, _SPACE.match(text).end())
    for found, offset in _value_starts(text, len(wanted)):
        if found == wanted:
            return _line_col(text, offset)
    return None


def with_file_positions(ir: dict[str, Any], text: str, filename: str) -> dict[str, Any]:
    """A valid IR read from `filename` -> the same with `source` naming that file and every position in it:
    each layer at its object, `input`, train and search settings at theirs. Positions into the spec the IR
    came from (`arg_pos` too) are dropped: that spec is not what is being read."""
    starts = dict(_value_starts(text, 2))
    line_starts = [0] + [match.end() for match in re.finditer("\n", text)]

    def pos(path: tuple) -> dict[str, int] | None:
        if path not in starts:
            return None
        line = bisect_left(line_starts, starts[path] + 1)  # the lines that start at or before the offset
        return {"line": line, "col": starts[path] - line_starts[line - 1] + 1, "span": 1}

    def placed(node: dict[str, Any], path: tuple) -> dict[str, Any]:
        node = {key: value for key, value in node.items() if key not in {"pos", "arg_pos"}}
        where = pos(path)
        if where is not None:
            node["pos"] = where
        return node

    result = {**ir, "source": filename, "input": placed(ir["input"], ("input",))}
    result["layers"] = [placed(layer, ("layers", index)) for index, layer in enumerate(ir["layers"])]
    for section in ("train", "search"):
        if section in ir:
            result[section] = {name: placed(entry, (section, name)) for name, entry in ir[section].items()}
    return result


def locate_error(err: SchemaError, text: str) -> SchemaError:
    """The error with the line and column of its JSON path in the IR file's text, if it has one."""
    if err.json_path is not None and err.line is None:
        where = locate(text, err.json_path)
        if where is not None:
            err.line, err.col = where
            err.with_source(text)
    return err


def _value_starts(text: str, max_depth: int) -> list[tuple[tuple, int]]:
    """(JSON path, offset) of each value of valid JSON text whose path has 1 to max_depth parts, in text order.

    Values deeper than max_depth are skipped by the JSON decoder's own scanner, at C speed; the text has
    passed check_nesting, which bounds the recursion."""
    scan = json.JSONDecoder().scan_once
    found: list[tuple[tuple, int]] = []

    def skip_space(index: int) -> int:
        return _SPACE.match(text, index).end()

    def members(index: int, path: tuple, depth: int) -> int:
        """Record the members of the container at text[index]; return the offset after it."""
        closing = "}" if text[index] == "{" else "]"
        index, position = skip_space(index + 1), 0
        while text[index] != closing:
            if closing == "}":
                key, index = scan(text, index)
                index = skip_space(skip_space(index) + 1)  # past the ':'
            else:
                key, position = position, position + 1
            found.append(((*path, key), index))
            if depth > 1 and text[index] in "[{":
                index = members(index, (*path, key), depth - 1)
            else:
                index = scan(text, index)[1]
            index = skip_space(index)
            if text[index] == ",":
                index = skip_space(index + 1)
        return index + 1

    start = skip_space(0)
    if max_depth > 0 and text[start : start + 1] in ("[", "{"):
        members(start, (), max_depth)
    return found


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _error(message: str, text: str, filename: str, offset: int) -> SchemaError:
    line, col = _line_col(text, offset)
    return SchemaError(message, file=filename, line=line, col=col).with_source(text)
