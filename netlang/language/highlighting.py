"""The words of the language by kind, for editors and highlighters, and the TextMate grammar built from them.

Nothing here is a list kept by hand: the statement keywords are the grammar's own literals (grammar/netlang.lark),
the layer keywords, their options and the words their arguments take come from the op registry, and the
training fields and their values from the training section's JSON Schema. So a new op or field is highlighted
as soon as it is registered: netlang/pygments_lexer.py reads these at import, and `python -m
netlang.ops.generate` writes the TextMate grammar (editors/vscode/syntaxes/netlang.tmLanguage.json) that VS Code
and other TextMate editors read; a test checks that the committed grammar is what this module builds.
"""

from __future__ import annotations

import json
import re
from typing import Any

from netlang.language.parser import grammar_path
from netlang.language.trainfields import field_schemas
from netlang.ops import OPS

# A word's edges: a keyword is a whole word, not part of `my-conv`, `conv2` or `std:0.01`.
BEFORE = r"(?<![A-Za-z0-9_\-:.])"
AFTER = r"(?![A-Za-z0-9_\-:])"
# The language's tokens (grammar/netlang.lark: WORD, LABEL, DIMS, NUMBER, VALUE).
WORD = r"[A-Za-z_][A-Za-z0-9_\-]*(?::[A-Za-z0-9_.+\-]+)?"
NAME = r"[A-Za-z_][A-Za-z0-9_\-]*"
LABEL = r"([A-Za-z_][A-Za-z0-9_.]*)[ \t]*(:)(?![A-Za-z0-9_.+\-])"
SIZE = r"(?<![A-Za-z0-9_.])[0-9]+(?:[xX][0-9]+)+(?![A-Za-z0-9_.])"
NUMBER = r"[+-]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][+-]?[0-9]+)?"
WHOLE_VALUE = r'(?<![^\s{])' + NUMBER + r'(?=[\s#}]|$)'  # a number that is a setting's whole value
VALUE = r'[^\s#{}"]+'
STRING = r'"[^"\n]*"'


def statement_keywords() -> list[str]:
    """The words the grammar spells out: input, block, train, search."""
    text = grammar_path().read_text(encoding="utf-8")
    rules = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))
    return sorted(set(re.findall(r'"([a-z]+)"', rules)))


def layer_keywords() -> list[str]:
    """Every op a spec writes as a word (a merge is written `+` or `|`)."""
    return [op.name for op in OPS.values() if not op.merge]


def option_words() -> list[str]:
    """The options layers take as `name value`: stride, pad, round, init, ..."""
    return sorted({arg.name for op in OPS.values() for arg in op.options})


def argument_words() -> list[str]:
    """The words layer arguments take: pool's max and avg, round's floor and ceil, pad's same, ..."""
    return sorted({word for op in OPS.values() for arg in op.args for word in (*arg.choices, *arg.words)})


def training_fields() -> list[str]:
    """The fields of the training (and search) section."""
    return list(field_schemas())


def training_words() -> list[str]:
    """The words training fields take (optimizers, losses, schedules, data sets, init schemes)."""
    words = set()
    for schema in field_schemas().values():
        for value in (*schema.get("enum", ()), *schema.get("examples", ())):
            if isinstance(value, str) and re.fullmatch(r"[a-z][a-z0-9_\-]*", value):
                words.add(value)
    return sorted(words)


def words_pattern(words: list[str]) -> str:
    """A regular expression (Python's and Oniguruma's) matching any of the words as a whole word."""
    alternatives = "|".join(re.escape(word) for word in sorted(words, key=lambda word: (-len(word), word)))
    return f"{BEFORE}(?:{alternatives}){AFTER}"


def textmate_grammar() -> dict[str, Any]:
    """The TextMate grammar of netlang specs (`source.netlang`), as JSON data."""
    keywords = [word for word in statement_keywords() if word not in ("block", "train", "search")]
    setting_start = r"(?:^|(?<=\{))[ \t]*"
    pipeline = [
        {"include": "#comment"},
        {"include": "#block-header"},
        {"include": "#section"},
        {"match": LABEL, "captures": {"1": {"name": "entity.name.tag.label.netlang"},
                                      "2": {"name": "punctuation.separator.label.netlang"}}},
        {"match": "->", "name": "keyword.operator.arrow.netlang"},
        {"match": r"\+(?![0-9.])", "name": "keyword.operator.sum.netlang"},
        {"match": r"\|", "name": "keyword.operator.concatenate.netlang"},
        {"match": r"(\*)[ \t]*([0-9]+)", "captures": {"1": {"name": "keyword.operator.repeat.netlang"},
                                                      "2": {"name": "constant.numeric.integer.netlang"}}},
        {"match": SIZE, "name": "constant.numeric.size.netlang"},
        {"match": NUMBER, "name": "constant.numeric.netlang"},
        {"match": words_pattern(keywords), "name": "keyword.control.netlang"},
        {"match": words_pattern(layer_keywords()), "name": "support.function.layer.netlang"},
        {"match": words_pattern(option_words()), "name": "keyword.other.option.netlang"},
        {"match": words_pattern(argument_words()), "name": "constant.language.netlang"},
        {"match": WORD, "name": "variable.other.netlang"},
        {"match": r"[()]", "name": "punctuation.section.parens.netlang"},
        {"match": r"[{}]", "name": "punctuation.section.braces.netlang"},
        {"include": "#invalid"},
    ]
    return {
        "$schema": "https://raw.githubusercontent.com/martinring/tmlanguage/master/tmlanguage.json",
        "name": "netlang",
        "scopeName": "source.netlang",
        "fileTypes": ["net"],
        "comment": "Generated from netlang's grammar, op registry and training schema by "
                   "`python -m netlang.ops.generate` (netlang/language/highlighting.py); do not edit.",
        "patterns": pipeline,
        "repository": {
            "comment": {"match": "#.*$", "name": "comment.line.number-sign.netlang"},
            "invalid": {"match": r"\S", "name": "invalid.illegal.character.netlang"},
            "block-header": {
                "begin": f"{BEFORE}(block)[ \\t]+({NAME})",
                "beginCaptures": {"1": {"name": "keyword.control.block.netlang"},
                                  "2": {"name": "entity.name.function.block.netlang"}},
                "end": r"(?=[{#]|$)",
                "patterns": [{"match": NAME, "name": "variable.parameter.netlang"}, {"include": "#invalid"}],
            },
            "section": {
                "begin": f"{BEFORE}(train|search)[ \\t]*(\\{{)",
                "beginCaptures": {"1": {"name": "keyword.control.section.netlang"},
                                  "2": {"name": "punctuation.section.braces.begin.netlang"}},
                "end": r"\}",
                "endCaptures": {"0": {"name": "punctuation.section.braces.end.netlang"}},
                "patterns": [
                    {"include": "#comment"},
                    {"match": setting_start + f"({words_pattern(training_fields())})",
                     "captures": {"1": {"name": "support.type.property-name.netlang"}}},
                    {"match": setting_start + f"({NAME})", "captures": {"1": {"name": "variable.other.field.netlang"}}},
                    {"match": STRING, "name": "string.quoted.double.netlang"},
                    {"match": words_pattern(training_words()) + r"(?=[\s#}]|$)", "name": "constant.language.netlang"},
                    {"match": WHOLE_VALUE, "name": "constant.numeric.netlang"},
                    {"match": VALUE, "name": "string.unquoted.netlang"},
                    {"include": "#invalid"},
                ],
            },
        },
    }


def textmate_text() -> str:
    """The TextMate grammar file's text."""
    return json.dumps(textmate_grammar(), indent=2) + "\n"
