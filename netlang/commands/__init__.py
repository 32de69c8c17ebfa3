"""The sub-commands of `netlang`, one module each.

Each module defines NAME, HELP (one line), EXAMPLES (shown under --help), add_arguments(parser) and
run(args) -> exit code. Modules import heavy dependencies (numpy) inside run(), so that `netlang check`
and `netlang summary` start fast.
"""

COMMANDS = (
    "check",
    "summary",
    "draw",
    "compile",
    "train",
    "eval",
    "predict",
    "export",
    "gradcheck",
    "bench",
    "search",
    "sweep",
    "activations",
    "plot",
    "lsp",
)
