"""The language server: pygls wiring of the features, and each open document's analysis.

A document is analysed (netlang/language/diagnostics.py) in one worker thread, so the server keeps reading
requests meanwhile: on open at once, on a change after a short pause (a newer change replaces a pending
one), and its diagnostics are published only if the document has not changed since. Requests (hover,
completion, ...) use the analysis of the document's current text, waiting for it if needed. An error
inside the analysis becomes a diagnostic saying so; an error inside a request becomes that request's error
response; either way the server goes on serving.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote, urlparse

from lark import Tree
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol

from netlang import __version__
from netlang.errors import NetlangError
from netlang.language.diagnostics import Analysis, analyze
from netlang.limits import MAX_LIVE_SPEC_BYTES
from netlang.lsp.completion import complete
from netlang.lsp.formatting import formatted
from netlang.lsp.hover import hover_markdown
from netlang.lsp.positions import Lines, units_for
from netlang.lsp.symbols import definition, document_symbols

CHANGE_PAUSE = 0.15  # seconds after a change before it is analysed: typing replaces pending analyses


class _Protocol(LanguageServerProtocol):
    """pygls' protocol, but a request whose parameters cannot be read gets an error response (pygls only logs
    it, and the client would wait for an answer for ever)."""

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as error:
            if isinstance(data, dict) and "method" in data and isinstance(data.get("id"), (int, str)):
                self._send_response(data["id"], None, error.to_response_error())
            raise


class NetlangServer(LanguageServer):
    """pygls' server with the open documents' analyses."""

    def __init__(self) -> None:
        super().__init__("netlang", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Full,
                         protocol_cls=_Protocol)
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="netlang-analysis")
        self.analyses: dict[str, tuple[str, Analysis]] = {}  # uri -> (the text analysed, its analysis)
        self.pending: dict[str, asyncio.Task] = {}

    def lines(self, text: str) -> Lines:
        """The document's lines, measured in the position units agreed with the client."""
        return Lines(text, units_for(getattr(self.workspace, "position_encoding", None)))

    def text(self, uri: str) -> str:
        """An open document's text; ValueError for one not open (pygls would read it from disk, whatever it is)."""
        document = self.workspace.text_documents.get(unquote(uri))
        if document is None:
            raise ValueError(f"{uri} is not open: netlang answers about documents the editor has opened")
        return document.source

    async def analysis(self, uri: str) -> tuple[str, Analysis]:
        """(The document's current text, its analysis), from the cache or made now in the worker."""
        text = self.text(uri)
        cached = self.analyses.get(uri)
        if cached is not None and cached[0] == text:
            return cached
        result = await asyncio.get_running_loop().run_in_executor(self.worker, analyze_document, text, uri)
        self.analyses[uri] = (text, result)
        return text, result

    def schedule(self, uri: str, pause: float) -> None:
        """Analyse the document after `pause` seconds and publish its diagnostics (replacing a pending one)."""
        previous = self.pending.pop(uri, None)
        if previous is not None:
            previous.cancel()
        self.pending[uri] = asyncio.ensure_future(self._publish(uri, pause))

    async def _publish(self, uri: str, pause: float) -> None:
        try:
            await self._analyse_and_publish(uri, pause)
        except asyncio.CancelledError:
            raise
        except Exception:  # a task's error is otherwise lost: log it, and the server goes on
            logging.getLogger(__name__).error("diagnostics of %s failed:\n%s", uri, traceback.format_exc())

    async def _analyse_and_publish(self, uri: str, pause: float) -> None:
        await asyncio.sleep(pause)
        version = self.workspace.text_documents[unquote(uri)].version
        text, analysis = await self.analysis(uri)
        if self.text(uri) != text:
            return  # changed meanwhile: the newer change's analysis publishes
        lines = self.lines(text)
        diagnostics = [_diagnostic(error, lines) for error in analysis.errors]
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, version=version, diagnostics=diagnostics))


def analyze_document(text: str, uri: str) -> Analysis:
    """The analysis of a document's text; a document too large to check live, or a failure of the checker
    itself, is one error at its top."""
    filename = _filename(uri)
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_LIVE_SPEC_BYTES:
        error = NetlangError(f"this file has {size:,} bytes; the editor checks files of up to "
                             f"{MAX_LIVE_SPEC_BYTES:,} as you type: run 'netlang check' on it", line=1, col=1)
        return Analysis([error], None, [], Tree("start", []))
    try:
        return analyze(text, filename)
    except Exception as err:  # a bug in netlang, not in the spec: say so where the user looks, keep serving
        logging.getLogger(__name__).error("analysis of %s failed:\n%s", uri, traceback.format_exc())
        error = NetlangError(f"netlang's checker failed on this file ({type(err).__name__}: {err}); "
                             "please report it", line=1, col=1)
        return Analysis([error], None, [], Tree("start", []))


def _filename(uri: str) -> str:
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri


def _diagnostic(error: NetlangError, lines: Lines) -> types.Diagnostic:
    kind = type(error).__name__
    return types.Diagnostic(range=lines.range(error.line, error.col, error.span), message=error.message,
                            severity=types.DiagnosticSeverity.Error, source="netlang",
                            code=kind if kind != "NetlangError" else None)


def build_server() -> NetlangServer:
    """The server with every feature registered."""
    server = NetlangServer()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(ls: NetlangServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri, 0)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(ls: NetlangServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri, CHANGE_PAUSE)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    async def did_close(ls: NetlangServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        pending = ls.pending.pop(uri, None)
        if pending is not None:
            pending.cancel()
        ls.analyses.pop(uri, None)
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def hover(ls: NetlangServer, params: types.HoverParams) -> types.Hover | None:
        text, analysis = await ls.analysis(params.text_document.uri)
        lines = ls.lines(text)
        found = hover_markdown(analysis, *lines.point(params.position))
        if found is None:
            return None
        markdown, (line, col, span) = found
        return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=markdown),
                           range=lines.range(line, col, span))

    @server.feature(types.TEXT_DOCUMENT_COMPLETION,
                    types.CompletionOptions(trigger_characters=[" ", ">", "("]))
    async def completion(ls: NetlangServer, params: types.CompletionParams) -> types.CompletionList:
        text = ls.text(params.text_document.uri)
        if len(text) > MAX_LIVE_SPEC_BYTES:  # (characters, at most as many as bytes) too large to check live
            return types.CompletionList(is_incomplete=False, items=[])
        items = complete(text, *ls.lines(text).point(params.position))
        return types.CompletionList(is_incomplete=False, items=items)

    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    async def symbols(ls: NetlangServer, params: types.DocumentSymbolParams) -> list[types.DocumentSymbol]:
        text, analysis = await ls.analysis(params.text_document.uri)
        return document_symbols(analysis, ls.lines(text))

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    async def goto_definition(ls: NetlangServer, params: types.DefinitionParams) -> types.Location | None:
        text, analysis = await ls.analysis(params.text_document.uri)
        lines = ls.lines(text)
        token = definition(analysis, *lines.point(params.position))
        if token is None:
            return None
        return types.Location(uri=params.text_document.uri,
                              range=lines.range(token.line, token.column, len(str(token))))

    @server.feature(types.TEXT_DOCUMENT_FORMATTING)
    async def formatting(ls: NetlangServer, params: types.DocumentFormattingParams) -> list[types.TextEdit]:
        text, analysis = await ls.analysis(params.text_document.uri)
        canonical, why = formatted(text, analysis)
        if canonical is None:
            ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Info,
                                                           message=f"netlang: not formatted: {why}"))
            return []
        if canonical == text:
            return []
        lines = ls.lines(text)
        return [types.TextEdit(range=types.Range(start=types.Position(line=0, character=0), end=lines.end()),
                               new_text=canonical)]

    return server
