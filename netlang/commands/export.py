"""`netlang export SPEC [--weights W] -o OUT.onnx|OUT.py`: the network in inference mode as an ONNX model, or as
PyTorch source with its weights beside it."""

from __future__ import annotations

import argparse
from typing import Any

NAME = "export"
HELP = "Write the network, with trained or freshly initialised weights, as an ONNX model or PyTorch source."
EXAMPLES = """examples:
  netlang export specs/digits_convnet.net --weights runs/digits -o digits.onnx
  netlang export specs/resnet.net --seed 1 -o resnet.onnx --opset 17
  netlang export specs/resnet.net --weights runs/resnet -o resnet.py    (--format pytorch)

--weights takes weights.npz, best.npz or checkpoint.npz, or a run directory (its weights.npz); without it,
the weights are the freshly initialised ones of --seed (default: the spec's train section, else 0).
The model computes what 'netlang predict' does: batchnorm uses its running statistics, dropout is left out,
and a final softmax or sigmoid gives probabilities. Its input is named 'input', its output 'output', and
the batch dimension is dynamic. Needs the onnx package: pip install "netlang[onnx]".

--format pytorch (or OUT.py) writes a standalone PyTorch file: an nn.Module class with one attribute per layer
and a function loading netlang's .npz weights; the weights are written beside it (OUT.npz, netlang's weights
layout). Importing the file needs torch and numpy, not netlang; writing it needs neither torch nor onnx. An
.onnx SPEC brings its own weights (unless --weights or --seed is given): ONNX to PyTorch source."""

FORMATS = {".onnx": "onnx", ".py": "pytorch"}
SHADOWED = ("torch", "numpy", "os")  # the modules a PyTorch file imports, which a file of the name would hide


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from netlang.targets.onnx_export import DEFAULT_OPSET

    parser.add_argument("spec", metavar="SPEC", help="the network: a spec (.net) or IR (.json) file; - for stdin")
    parser.add_argument("-o", "--output", metavar="OUT", required=True, help="where to write it (OUT.onnx or OUT.py)")
    parser.add_argument("--weights", metavar="W", help="weights file or run directory (default: fresh weights)")
    parser.add_argument("--seed", metavar="N", type=int, help="the seed of fresh weights (without --weights)")
    parser.add_argument("--format", choices=sorted(set(FORMATS.values())),
                        help="the format to write (default: from OUT's suffix)")
    parser.add_argument("--opset", metavar="N", type=int,
                        help=f"the ONNX opset to write (default {DEFAULT_OPSET}; --format onnx only)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from netlang import __version__
    from netlang.atomic import write_atomically
    from netlang.errors import UsageError
    from netlang.targets.onnx_export import DEFAULT_OPSET, check_size, export, import_onnx

    export_format = args.format
    if export_format is None:
        suffix = Path(args.output).suffix.lower()
        if suffix not in FORMATS:
            raise UsageError(
                f"-o {args.output}: cannot tell the format from the suffix '{suffix}'; name it OUT.onnx or OUT.py, "
                "or give --format onnx or --format pytorch"
            )
        export_format = FORMATS[suffix]
    if args.weights is not None and args.seed is not None:
        raise UsageError("--seed sets fresh weights, and --weights replaces them: give one or the other")
    if export_format == "pytorch":
        if args.opset is not None:
            raise UsageError("--opset is the ONNX opset; it does not apply to --format pytorch")
        return _export_pytorch(args)
    args.opset = DEFAULT_OPSET if args.opset is None else args.opset
    import_onnx()  # before any work: without onnx, one line saying how to install it
    ir, spec_text = _read_spec(args.spec)
    check_size(ir, spec_text)  # before the weights are made
    model = _model(ir, args.weights, args.seed)
    exported = export(ir, model.state_dict(), opset=args.opset, spec_text=spec_text, version=__version__)
    data = exported.model.SerializeToString()
    try:
        write_atomically(args.output, lambda file: file.write(data))
    except OSError as err:
        raise UsageError(f"{args.output}: cannot write it ({err.strerror or err})") from None
    weights = f"the weights of {args.weights}" if args.weights else f"fresh weights (seed {model_seed(ir, args.seed)})"
    print(f"wrote {args.output}: {len(ir['layers'])} layers as {len(exported.model.graph.node)} ONNX nodes, "
          f"opset {args.opset}, {weights}")
    return 0


def _export_pytorch(args: argparse.Namespace) -> int:
    """Write the PyTorch source (-o) and, beside it, the weights it loads (the same name, .npz)."""
    from pathlib import Path

    from netlang import __version__
    from netlang.atomic import write_text
    from netlang.errors import UsageError
    from netlang.targets.pytorch_source import generate

    output = Path(args.output)
    if output.is_dir() or output.name in ("", ".", ".."):
        raise UsageError(f"-o {args.output}: is a directory; expected the name of the file to write (OUT.py)")
    weights_path = output.with_suffix(".npz")
    if weights_path == output:
        raise UsageError(f"-o {args.output}: the weights go to OUT.npz beside the source; name the source OUT.py")
    if output.stem in SHADOWED:
        raise UsageError(f"-o {args.output}: the file would hide the '{output.stem}' module it imports; name it "
                         "otherwise")
    if args.weights is None and args.seed is None and Path(args.spec).suffix.lower() == ".onnx":
        from netlang.train.session import load_trained

        trained = load_trained(args.spec, None)  # an ONNX file's own weights, as predict reads them
        ir, model, origin = trained.ir, trained.model, f"the weights of {args.spec}"
    else:
        ir, _ = _read_spec(args.spec)
        model = _model(ir, args.weights, args.seed)
        fresh = f"fresh weights (seed {model_seed(ir, args.seed)})"
        origin = f"the weights of {args.weights}" if args.weights else fresh
    given = None if args.weights is None else _weights_path(args.weights)
    # -o runs/x/checkpoint.py --weights runs/x/checkpoint.npz: the weights are there already (and must stay).
    write_weights = given is None or not _same_file(given, weights_path)
    source = generate(
        ir, command=_command_line(args), weights_file=weights_path.name, weights_origin=origin, version=__version__
    )
    writes = [(weights_path, model.save)] if write_weights else []
    writes.append((output, lambda path: write_text(path, source.text)))
    for path, write in writes:
        try:
            write(path)
        except OSError as err:
            raise UsageError(f"{path}: cannot write it ({err.strerror or err})") from None
    beside = f" and {weights_path}" if write_weights else f", loading {weights_path}"
    print(f"wrote {output}{beside}: class {source.class_name}, {len(ir['layers'])} layers as "
          f"{source.attributes} modules, {origin}")
    return 0


def _weights_path(weights: str) -> Any:
    from netlang.train.session import weights_file

    return weights_file(weights)


def _same_file(first: Any, second: Any) -> bool:
    try:
        return second.exists() and first.samefile(second)
    except OSError:
        return False


def _command_line(args: argparse.Namespace) -> str:
    """The export's command line as a person would type it again (quoted where a word needs it)."""
    import shlex

    words = ["netlang", "export", args.spec, "--format", "pytorch", "-o", args.output]
    if args.weights is not None:
        words += ["--weights", args.weights]
    if args.seed is not None:
        words += ["--seed", str(args.seed)]
    return shlex.join(words)


def _read_spec(spec: str) -> tuple[dict[str, Any], str | None]:
    """(inferred IR, the spec text its positions point into; None for an IR file, whose positions are JSON's)."""
    import sys
    from pathlib import Path

    from netlang.language.compiler import compile_ir, read_source

    if spec == "-":
        text = sys.stdin.read()
        return compile_ir(text, filename="<stdin>"), text
    path = Path(spec)
    ir = compile_ir(path)
    return ir, None if path.suffix == ".json" else read_source(path)


def model_seed(ir: dict[str, Any], seed: int | None) -> int:
    """The seed of fresh weights: --seed, else the spec's train section's."""
    from netlang.language.trainfields import resolve_training

    return resolve_training(ir)["seed"] if seed is None else seed


def _model(ir: dict[str, Any], weights: str | None, seed: int | None) -> Any:
    """The model of `ir` with the weights of `weights` (as eval reads them), or fresh ones of the seed."""
    from netlang.language.trainfields import resolve_training
    from netlang.train.session import build_model, load_weights, run_config, weights_file, with_training

    if weights is None:
        config = {**resolve_training(ir), "seed": model_seed(ir, seed)}
        return build_model(ir, config)
    path = weights_file(weights)
    config = run_config(path) or resolve_training(ir)
    model = build_model(with_training(ir, config), config)
    load_weights(model, path)
    return model
