"""`netlang lsp`: a language server for specs over stdio (an optional extra: pip install "netlang[lsp]").

server.py wires the features to pygls; every feature is a plain function of the document's text and its
analysis (netlang/language/diagnostics.py) in a module of its own: positions, hover, completion, symbols
(document symbols and go to definition), formatting. Only server.py imports pygls.
"""
