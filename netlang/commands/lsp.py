"""`netlang lsp`: the language server for editors, over stdin and stdout (netlang/lsp)."""

from __future__ import annotations

import argparse

from netlang.errors import UsageError

NAME = "lsp"
HELP = "run the language server for editors over stdio (errors as you type, hover, completion, outline)"
EXAMPLES = """An editor starts it and talks the Language Server Protocol on its stdin and stdout.
Needs pygls: pip install "netlang[lsp]".

example (what an editor runs):
  netlang lsp"""

INSTALL_HINT = 'the language server needs pygls: pip install "netlang[lsp]"'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stdio", action="store_true", help="talk over stdin and stdout (the default and only way; "
                        "accepted because editors' clients often pass it)")


def run(args: argparse.Namespace) -> int:
    try:
        import pygls  # noqa: F401
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    from netlang.lsp.server import build_server

    build_server().start_io()
    return 0
