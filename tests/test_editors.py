"""Editor support: the TextMate grammar (run by VS Code's own engine, vscode-textmate on vscode-oniguruma, where
node and those modules are installed: .ci/run installs them) and the Pygments lexer tokenise every example spec
without an error token, give the language's words the right kinds, and flag what no spec can hold."""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from netlang.language.highlighting import layer_keywords, textmate_text, training_fields
from netlang.ops import generate

ROOT = Path(__file__).resolve().parent.parent
GRAMMAR = ROOT / "editors" / "vscode" / "syntaxes" / "netlang.tmLanguage.json"
EDITOR_TESTS = ROOT / "editors" / "test"
EXAMPLES = sorted((ROOT / "specs").glob("*.net")) + sorted((ROOT / "tests").rglob("*.net"))
# A spec with a character no spec can hold, on line 2 (`@`), and one inside the training section (`{`).
BAD = "input 4\naffine 3 @ relu\ntrain {\n  epochs {\n}\n"
# (text, kind) pairs every highlighter must give a spec's words; kinds as the TextMate scope's first part.
EXPECTED = [
    ("input", "keyword"), ("block", "keyword"), ("basic", "entity"), ("conv", "support"), ("batchnorm", "support"),
    ("identity", "support"), ("pad", "keyword"), ("stride", "keyword"), ("same", "constant"), ("3x3", "constant"),
    ("16", "constant"), ("->", "keyword"), ("+", "keyword"), ("#", "comment"), ("optimizer", "support"),
    ("adam", "constant"), ("0.001", "constant"), ("train", "keyword"), ("C", "variable"),
]


def readme_specs(tmp_path: Path) -> list[Path]:
    """The README's code blocks that are specs (they start with `input` or `block`), as files."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```\n(.*?)```", text, flags=re.S)
    specs = [block for block in blocks if re.match(r"(input|block) ", block)]
    paths = []
    for index, block in enumerate(specs):
        path = tmp_path / f"readme{index}.net"
        path.write_text(block, encoding="utf-8")
        paths.append(path)
    assert len(paths) >= 4
    return paths


def test_the_committed_grammar_is_the_generated_one():
    assert GRAMMAR.read_text(encoding="utf-8") == textmate_text()
    assert generate.main(["--check"]) == 0
    grammar = json.loads(textmate_text())
    layers = next(rule["match"] for rule in grammar["patterns"] if rule.get("name") == "support.function.layer.netlang")
    assert all(name in layers for name in layer_keywords()) and "global_pool" in layers and "concat" not in layers


def textmate_tokens(files: list[Path]) -> dict[str, list[dict]]:
    node = shutil.which("node")
    if node is None or not (EDITOR_TESTS / "node_modules" / "vscode-textmate").is_dir():
        pytest.skip("node with vscode-textmate and vscode-oniguruma (npm ci --prefix editors/test)")
    result = subprocess.run([node, str(EDITOR_TESTS / "tokenize.js"), str(GRAMMAR), *map(str, files)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def invalid_tokens(tokens: list[dict]) -> list[tuple[int, str]]:
    return [(token["line"], token["text"]) for token in tokens if any(s.startswith("invalid") for s in token["scopes"])]


def test_textmate_tokenises_every_example_spec_without_invalid_tokens(tmp_path):
    files = EXAMPLES + readme_specs(tmp_path)
    tokens = textmate_tokens(files)
    assert set(tokens) == {str(path) for path in files}
    for file, found in tokens.items():
        assert invalid_tokens(found) == [], file
        assert "".join(token["text"] for token in found) == Path(file).read_text(encoding="utf-8").replace("\n", "")
    kinds = {}
    for file in ("resnet.net", "deep_convnet.net"):
        for token in tokens[str(ROOT / "specs" / file)]:
            scopes = [scope for scope in token["scopes"] if scope != "source.netlang"]
            kinds.setdefault(token["text"].strip() if not token["text"].lstrip().startswith("#") else "#",
                             scopes[-1].split(".")[0] if scopes else None)
    assert [(text, kinds.get(text)) for text, _ in EXPECTED] == EXPECTED


def test_textmate_flags_what_no_spec_holds(tmp_path):
    bad = tmp_path / "bad.net"
    bad.write_text(BAD, encoding="utf-8")
    found = textmate_tokens([bad])[str(bad)]
    assert invalid_tokens(found) == [(2, "@"), (4, "{")]
    fields = [token["text"].strip() for token in found if "support.type.property-name.netlang" in token["scopes"]]
    assert fields == ["epochs"] and "epochs" in training_fields()


# Pygments: an optional extra; the lexer imports it.

PYGMENTS_KINDS = {"Keyword": "keyword", "Name.Function": "entity", "Name.Builtin": "support",
                  "Keyword.Pseudo": "keyword", "Name.Constant": "constant", "Number": "constant", "Operator": "keyword",
                  "Comment": "comment", "Name.Attribute": "support", "Name.Variable": "variable", "Name": "variable"}


def pygments_tokens(text: str) -> list[tuple]:
    pytest.importorskip("pygments")
    from netlang.pygments_lexer import NetlangLexer

    return list(NetlangLexer().get_tokens(text))


def kind_of(token_type) -> str | None:
    name = str(token_type).removeprefix("Token.")
    while name:
        if name in PYGMENTS_KINDS:
            return PYGMENTS_KINDS[name]
        if name.startswith("Literal."):
            name = name.removeprefix("Literal.")
            continue
        name = name.rpartition(".")[0]
    return None


def test_pygments_tokenises_every_example_spec_without_error_tokens(tmp_path):
    from pygments.token import Error

    for path in EXAMPLES + readme_specs(tmp_path):
        text = path.read_text(encoding="utf-8")
        tokens = pygments_tokens(text)
        assert [value for kind, value in tokens if kind in Error] == [], path
        assert "".join(value for _, value in tokens).rstrip("\n") == text.rstrip("\n")
    kinds = {}
    for file in ("resnet.net", "deep_convnet.net"):
        for kind, value in pygments_tokens((ROOT / "specs" / file).read_text(encoding="utf-8")):
            if value.strip():
                kinds.setdefault("#" if value.startswith("#") else value.strip(), kind_of(kind))
    assert [(text, kinds.get(text)) for text, _ in EXPECTED] == EXPECTED


def test_pygments_flags_what_no_spec_holds():
    from pygments.token import Error

    assert [value for kind, value in pygments_tokens(BAD) if kind in Error] == ["@", "{"]


def test_the_lexer_is_registered_as_a_pygments_plugin():
    pytest.importorskip("pygments")
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    target = project["entry-points"]["pygments.lexers"]["netlang"]
    module, _, name = target.partition(":")
    lexer = getattr(importlib.import_module(module), name)
    assert lexer.aliases == ["netlang"] and lexer.filenames == ["*.net"]
    assert any(requirement.startswith("pygments") for requirement in project["optional-dependencies"]["pygments"])


def test_the_lexer_says_which_extra_to_install_without_pygments():
    code = (
        "import sys; sys.modules['pygments'] = None\n"
        "try:\n    import netlang.pygments_lexer\nexcept ImportError as err:\n    print(err)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.stdout.strip() == 'the Pygments lexer needs Pygments: pip install "netlang[pygments]"'


# The VS Code extension.

EXTENSION = ROOT / "editors" / "vscode"


def test_the_extension_contributes_the_language_grammar_and_server():
    manifest = json.loads((EXTENSION / "package.json").read_text(encoding="utf-8"))
    (language,) = manifest["contributes"]["languages"]
    assert language["id"] == "netlang" and language["extensions"] == [".net"]
    configuration = json.loads((EXTENSION / language["configuration"]).read_text(encoding="utf-8"))
    assert configuration["comments"] == {"lineComment": "#"} and ["(", ")"] in configuration["brackets"]
    (grammar,) = manifest["contributes"]["grammars"]
    assert (EXTENSION / grammar["path"]).resolve() == GRAMMAR
    assert grammar["scopeName"] == json.loads(GRAMMAR.read_text(encoding="utf-8"))["scopeName"] == "source.netlang"
    assert (EXTENSION / manifest["main"]).is_file() and "onLanguage:netlang" in manifest["activationEvents"]
    assert re.fullmatch(r"[0-9.]+", manifest["dependencies"]["vscode-languageclient"]), "pinned"
    settings = manifest["contributes"]["configuration"]["properties"]
    assert settings["netlang.server.command"]["default"] == "netlang"
    assert settings["netlang.server.args"]["default"] == ["lsp"]


@pytest.mark.parametrize("outcome", ["ok", "fail"])
def test_the_extension_starts_netlang_lsp_over_stdio(outcome):
    node = shutil.which("node")
    if node is None:
        pytest.skip("no node to run the extension")
    result = subprocess.run([node, str(EDITOR_TESTS / "extension_smoke.js"), str(EXTENSION / "extension.js"), outcome],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    (client,) = seen["clients"]
    assert client["serverOptions"]["run"] == {"command": "netlang", "args": ["lsp"]}  # no transport: stdio
    assert {"scheme": "file", "language": "netlang"} in client["clientOptions"]["documentSelector"]
    assert seen["started"] == 1 and seen["stopped"] == 1
    if outcome == "ok":
        assert seen["errors"] == []
    else:
        (message,) = seen["errors"]
        assert "'netlang lsp'" in message and 'pip install "netlang[lsp]"' in message
