"""`netlang lsp` end to end: a real LSP client (tests/lsp/client.py) talks JSON-RPC over a pipe to one server
process for the whole module: diagnostics with their ranges, hover, completion, symbols, definition,
formatting, hostile documents, failing requests, shutdown and exit."""

from __future__ import annotations

import pytest

pytest.importorskip("pygls")

from .client import Client, ServerError  # noqa: E402

TWO_ERRORS = "input 1x28x28\nconv 30 5x5 -> reul -> pool 2\naffine 10 -> dropout 1.5 -> softmax\n"
VALID = "input 1x28x28\nconv 30 5x5 -> relu -> pool 2\naffine 10 -> dropout 0.5 -> softmax\n"
BLOCKS = """block basic C {
  (conv C 3x3 pad same -> relu + identity)
}
input 1x28x28   # images
conv 8 3x3 pad same -> relu
basic 8 -> stage2: basic 8
global_pool -> affine 10 -> softmax
train {
  optimizer adam
  lr 0.01
}
"""


@pytest.fixture(scope="module")
def client():
    client = Client()
    try:
        result = client.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
        capabilities = result["capabilities"]
        assert capabilities["textDocumentSync"]["change"] == 1  # full text on each change
        for provider in ("hoverProvider", "completionProvider", "documentSymbolProvider", "definitionProvider",
                         "documentFormattingProvider"):
            assert capabilities[provider]
        client.notify("initialized", {})
        yield client
    finally:
        if client.process.poll() is None:
            client.process.kill()
            client.process.wait()


def open_document(client: Client, name: str, text: str) -> tuple[str, list[dict]]:
    uri = f"file:///tmp/netlang-lsp-test/{name}"
    client.notify("textDocument/didOpen",
                  {"textDocument": {"uri": uri, "languageId": "netlang", "version": 1, "text": text}})
    return uri, client.diagnostics(uri, 1)


def at(uri: str, line: int, character: int) -> dict:
    return {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}


def span(line: int, start: int, end: int) -> dict:
    return {"start": {"line": line, "character": start}, "end": {"line": line, "character": end}}


def test_two_errors_are_both_diagnosed_and_clear_when_fixed(client):
    uri, diagnostics = open_document(client, "two.net", TWO_ERRORS)
    assert [d["range"] for d in diagnostics] == [span(1, 15, 19), span(2, 21, 24)]
    assert "unknown layer 'reul' — did you mean 'relu'?" in diagnostics[0]["message"]
    assert "the dropout ratio of dropout1 must be in [0, 1), got 1.5" in diagnostics[1]["message"]
    assert {d["severity"] for d in diagnostics} == {1} and {d["source"] for d in diagnostics} == {"netlang"}
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                             "contentChanges": [{"text": VALID}]})
    assert client.diagnostics(uri, 2) == []
    hover = client.request("textDocument/hover", at(uri, 1, 1))  # the changed text's network
    assert "(1, 28, 28) → (30, 24, 24)" in hover["contents"]["value"]


def test_a_range_counts_utf16_code_units(client):
    line = '  data "\U0001F600 é" extra'
    _, diagnostics = open_document(client, "utf16.net", f"input 784\naffine 10\ntrain {{\n{line}\n}}\n")
    start = line.index("extra") + 1  # the emoji is two UTF-16 code units
    assert [d["range"] for d in diagnostics] == [span(3, start, start + 5)]


def test_hover_shows_shapes_parameters_and_macs(client):
    uri, diagnostics = open_document(client, "blocks.net", BLOCKS)
    assert diagnostics == []
    hover = client.request("textDocument/hover", at(uri, 4, 2))
    text = hover["contents"]["value"]
    assert hover["contents"]["kind"] == "markdown" and hover["range"] == span(4, 0, 4)
    assert "conv1" in text and "(1, 28, 28) → (8, 28, 28)" in text
    assert "parameters 80" in text and "MACs 56,448" in text  # 8·1·3·3 + 8; 8·28·28·1·3·3
    use = client.request("textDocument/hover", at(uri, 5, 2))["contents"]["value"]
    assert "basic1" in use and "3 layers" in use and "(8, 28, 28) → (8, 28, 28)" in use
    assert "parameters 584" in use  # 8·8·3·3 + 8
    inside = client.request("textDocument/hover", at(uri, 1, 4))["contents"]["value"]
    assert "basic1.conv2" in inside and "stage2.conv3" in inside  # the body's conv, in each use
    field = client.request("textDocument/hover", at(uri, 8, 4))["contents"]["value"]
    assert "the optimizer" in field and "`adam`" in field
    assert client.request("textDocument/hover", at(uri, 3, 20)) is None  # a comment


def labels(client: Client, uri: str, line: int, character: int) -> list[str]:
    result = client.request("textDocument/completion", at(uri, line, character))
    return [item["label"] for item in result["items"]]


def test_completion_offers_layers_options_values_and_fields(client):
    text = "block basic C {\n  conv C 3x3\n}\ninput 1x28x28\nconv 8 3x3 \nconv 8 3x3 pad \n-> \ntrain {\n  \n" \
           "  optimizer \n}\n"
    uri, _ = open_document(client, "complete.net", text)
    layers = labels(client, uri, 6, 3)
    assert {"conv", "relu", "pool", "affine", "softmax", "basic"} <= set(layers)
    assert "add" not in layers and "input" not in layers  # merges are written '+'; statements start lines
    assert {"input", "train", "conv"} <= set(labels(client, uri, 11, 0))  # a new line at the end
    assert set(labels(client, uri, 4, 11)) == {"stride", "pad", "round", "init"}
    assert labels(client, uri, 5, 15) == ["same"]
    fields = labels(client, uri, 8, 2)
    assert {"optimizer", "lr", "epochs", "batch_size", "data"} <= set(fields) and "conv" not in fields
    assert {"adam", "sgd", "momentum"} <= set(labels(client, uri, 9, 12))


def test_document_symbols_outline_blocks_layers_groups_and_sections(client):
    uri = "file:///tmp/netlang-lsp-test/blocks.net"  # opened above
    symbols = client.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
    names = [symbol["name"] for symbol in symbols]
    assert names == ["basic", "input", "conv1", "relu1", "basic1", "stage2", "global_pool1", "affine1",
                     "softmax1", "train"]
    block = symbols[0]
    assert block["range"]["start"] == {"line": 0, "character": 0} and block["range"]["end"]["line"] == 2
    assert block["selectionRange"] == span(0, 6, 11)
    assert [child["name"] for child in block["children"]] == ["( ... )"]
    assert [child["name"] for child in symbols[-1]["children"]] == ["optimizer", "lr"]


def test_definition_of_a_block_and_of_its_parameter(client):
    uri = "file:///tmp/netlang-lsp-test/blocks.net"
    for line, character in ((5, 1), (5, 20)):  # `basic 8` and `stage2: basic 8`
        location = client.request("textDocument/definition", at(uri, line, character))
        assert location == {"uri": uri, "range": span(0, 6, 11)}
    parameter = client.request("textDocument/definition", at(uri, 1, 8))  # the C of `conv C`
    assert parameter["range"] == span(0, 12, 13)
    assert client.request("textDocument/definition", at(uri, 4, 1)) is None  # conv is netlang's own


def test_formatting_rewrites_a_valid_spec_and_declines_when_it_would_lose_something(client):
    uri, _ = open_document(client, "format.net", "input 784\naffine  10->relu\n  -> affine 10 -> softmax\n")
    edits = client.request("textDocument/formatting", {"textDocument": {"uri": uri},
                                                       "options": {"tabSize": 2, "insertSpaces": True}})
    assert edits == [{"range": {"start": {"line": 0, "character": 0}, "end": {"line": 3, "character": 0}},
                      "newText": "input 784\naffine 10 -> relu -> affine 10 -> softmax\n"}]
    uri = "file:///tmp/netlang-lsp-test/blocks.net"  # comments and a block
    edits = client.request("textDocument/formatting", {"textDocument": {"uri": uri},
                                                       "options": {"tabSize": 2, "insertSpaces": True}})
    assert edits == []
    shown = client.wait_for(lambda message: message.get("method") == "window/showMessage")
    assert "not formatted" in shown["params"]["message"] and "comments" in shown["params"]["message"]


@pytest.mark.parametrize("name, text, fragment", [
    ("huge.net", "input 784\n" + "affine 10 -> relu\n" * 20_000, "run 'netlang check' on it"),
    ("deep.net", "input 784\n" + "(" * 100_000 + "\n", "nest more than 100 deep"),
    ("binary.net", "\x00\x01\ud800\udfff\uffff\x1b[31m garbage } ) ->\n" * 3_000, "unexpected"),
    ("repeat.net", "input 784\n(affine 10) * 99999999999\n", "99,999,999,999 layers"),
], ids=["huge", "deep", "binary", "repeat"])
def test_hostile_documents_get_a_diagnostic_and_the_server_keeps_serving(client, name, text, fragment):
    uri, diagnostics = open_document(client, name, text)
    assert 1 <= len(diagnostics) <= 100 and fragment in diagnostics[0]["message"]
    client.request("textDocument/hover", at(uri, 0, 0))
    client.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
    client.request("textDocument/completion", at(uri, 1, 3))
    hover = client.request("textDocument/hover", at("file:///tmp/netlang-lsp-test/blocks.net", 4, 2))
    assert "conv1" in hover["contents"]["value"]


def test_a_failing_request_gets_an_error_answer_and_the_server_goes_on(client):
    for uri in ("file:///tmp/netlang-lsp-test/never-opened.net", "file:///dev/zero"):  # never read from disk
        with pytest.raises(ServerError) as failed:
            client.request("textDocument/hover", at(uri, 0, 0))
        assert failed.value.args[0]["code"] == -32603 and "is not open" in failed.value.args[0]["message"]
    with pytest.raises(ServerError) as failed:  # parameters that are not a position
        client.request("textDocument/hover", {"textDocument": {"uri": "x"}, "position": {"line": "one"}})
    assert failed.value.args[0]["code"] == -32602
    hover = client.request("textDocument/hover", at("file:///tmp/netlang-lsp-test/blocks.net", 4, 2))
    assert "conv1" in hover["contents"]["value"]


def test_closing_a_document_clears_its_diagnostics(client):
    uri = "file:///tmp/netlang-lsp-test/deep.net"
    client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    message = client.wait_for(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                              and m["params"]["uri"] == uri)
    assert message["params"]["diagnostics"] == []


def test_shutdown_then_exit_ends_the_server_with_code_0(client):
    assert client.close() == 0


def test_a_client_that_prefers_utf8_gets_ranges_in_bytes():
    client = Client()
    try:
        result = client.request("initialize", {"processId": None, "rootUri": None, "capabilities": {
            "general": {"positionEncodings": ["utf-8", "utf-16"]}}})
        assert result["capabilities"]["positionEncoding"] == "utf-8"
        client.notify("initialized", {})
        line = '  data "\U0001F600 é" extra'
        uri, diagnostics = open_document(client, "utf8.net", f"input 784\naffine 10\ntrain {{\n{line}\n}}\n")
        start = len(line[: line.index("extra")].encode("utf-8"))
        assert [d["range"] for d in diagnostics] == [span(3, start, start + 5)]
        hover = client.request("textDocument/hover", at(uri, 3, start + 1))
        assert hover is None  # the section did not parse: nothing to say (and no error from a byte position)
        assert client.close() == 0
    finally:
        if client.process.poll() is None:
            client.process.kill()
            client.process.wait()


def test_without_pygls_the_command_says_which_extra_to_install(monkeypatch, capsys):
    from netlang.cli import main

    monkeypatch.setitem(__import__("sys").modules, "pygls", None)
    assert main(["lsp"]) == 2
    assert capsys.readouterr().err.strip() == 'the language server needs pygls: pip install "netlang[lsp]"'
