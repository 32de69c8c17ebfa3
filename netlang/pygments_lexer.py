"""A Pygments lexer for netlang specs, so documentation tools (Sphinx, MkDocs, ...) highlight them.

Registered as the entry point `netlang` of `pygments.lexers` (pyproject.toml): with netlang installed,
```` ```netlang ```` blocks and `*.net` files are highlighted. Pygments is optional (`pip install
"netlang[pygments]"`) and imported only here. Its words are the language's own, read at import from the grammar,
the op registry and the training schema (netlang/language/highlighting.py), as the TextMate grammar's are.
"""

from __future__ import annotations

try:
    from pygments.lexer import RegexLexer, bygroups
    from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String, Whitespace
except ImportError:  # pragma: no cover - depends on the environment
    raise ImportError('the Pygments lexer needs Pygments: pip install "netlang[pygments]"') from None

from netlang.language import highlighting as words

_SETTING_START = r"(^|(?<=\{))([ \t]*)"


class NetlangLexer(RegexLexer):
    """Lexer for netlang network specs (`.net`)."""

    name = "netlang"
    aliases = ["netlang"]
    filenames = ["*.net"]
    mimetypes = ["text/x-netlang"]
    url = "https://github.com/netlang/netlang"

    _keywords = [word for word in words.statement_keywords() if word not in ("block", "train", "search")]

    tokens = {
        "root": [
            (r"\s+", Whitespace),
            (r"#.*$", Comment.Single),
            (words.BEFORE + r"(block)([ \t]+)(" + words.NAME + ")", bygroups(Keyword, Whitespace, Name.Function),
             "block-header"),
            (words.BEFORE + r"(train|search)([ \t]*)(\{)", bygroups(Keyword, Whitespace, Punctuation), "section"),
            (words.LABEL, bygroups(Name.Label, Punctuation)),
            (r"->", Operator),
            (r"\+(?![0-9.])", Operator),
            (r"\|", Operator),
            (r"(\*)([ \t]*)([0-9]+)", bygroups(Operator, Whitespace, Number.Integer)),
            (words.SIZE, Number),
            (words.NUMBER, Number),
            (words.words_pattern(_keywords), Keyword),
            (words.words_pattern(words.layer_keywords()), Name.Builtin),
            (words.words_pattern(words.option_words()), Keyword.Pseudo),
            (words.words_pattern(words.argument_words()), Name.Constant),
            (words.WORD, Name),
            (r"[(){}]", Punctuation),
        ],
        "block-header": [
            (r"[ \t]+", Whitespace),
            (words.NAME, Name.Variable),
            (r"(?=[{#\n])", Whitespace, "#pop"),
        ],
        "section": [  # a setting's field starts a line (or follows the brace): whitespace never eats into one
            (r"\}", Punctuation, "#pop"),
            (r"#.*$", Comment.Single),
            (_SETTING_START + "(" + words.words_pattern(words.training_fields()) + ")",
             bygroups(Whitespace, Whitespace, Name.Attribute)),
            (_SETTING_START + "(" + words.NAME + ")", bygroups(Whitespace, Whitespace, Name.Variable)),
            (r"\n", Whitespace),
            (r"[ \t\r]+", Whitespace),
            (words.STRING, String.Double),
            (words.words_pattern(words.training_words()) + r"(?=[\s#}]|$)", Name.Constant),
            (words.WHOLE_VALUE, Number),
            (words.VALUE, String),
        ],
    }
