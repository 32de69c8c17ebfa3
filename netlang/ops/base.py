"""What an op declares: its arguments (Arg), its parameters (Param) and the op itself (Op), plus the shape
arithmetic several ops share and the one printer from an IR layer back to spec text.

Shapes exclude the batch dimension. Every shape rule is a pure function of (args, in_shape); a rule that
cannot apply raises ShapeError without a location, and the inference pass adds the layer's position.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from netlang.errors import ShapeError, SpecSyntaxError

Shape = list[int]
Args = dict[str, Any]

NETWORK_INPUT = "input"  # the name IR layers read the network's input by (no layer may be named so)

# Argument kinds, as written in a spec:
#   "int"    a whole number:               30
#   "real"   any number:                   0.5, 1e-5
#   "size"   a number or HxW pair:         2, 5x5   -> [H, W] in the IR
#   "choice" one of a fixed set of words:  avg
#   "word"   any word (checked later):     he, std:0.01
ARG_KINDS = ("int", "real", "size", "choice", "word")


@dataclass(frozen=True)
class Arg:
    """One argument of a layer.

    `what` names it in spec errors ("expected the kernel size (like 5x5 or 3) after 'conv 30'"), `noun` in IR
    validation errors ("the kernel size of conv1 must be ..."; `what` if not given). `default` is a value, or
    a function of the arguments already matched (a pool's stride is its kernel). `bounds` are JSON Schema
    keywords on the value (minimum, exclusiveMaximum, ...); `schema` replaces the kind's schema entirely.

    `words` are words a spec may write instead of a value of the kind (`pad same`), each with a function of
    the arguments already matched that gives the value the IR stores: the IR never holds the word, so the
    schema, the backend and every target see plain values. The function's docstring says what it stores (the
    docs show it); where the word cannot apply it raises SpecSyntaxError, which lowering locates at the word.
    """

    name: str
    kind: str
    what: str
    noun: str = ""
    required: bool = True
    default: Any = None
    choices: tuple[str, ...] = ()
    bounds: Mapping[str, float] = field(default_factory=dict)
    schema: Mapping[str, Any] | None = None
    words: Mapping[str, Callable[[Args], Any]] = field(default_factory=dict)

    def with_default(self, default: Any) -> Arg:
        """This argument with another default (a value, or a function of the other arguments)."""
        return replace(self, default=default)

    def default_for(self, args: Args) -> Any:
        """The value this argument takes when the spec leaves it out, given the arguments matched so far."""
        return self.default(args) if callable(self.default) else self.default

    def accepts_word(self, token_type: str, text: str) -> bool:
        """Whether a spec token is one of this argument's `words` (checked before the kind's own tokens)."""
        return token_type == "WORD" and text in self.words

    def word_value(self, text: str, args: Args) -> Any:
        """The IR value of one of `words`, given the arguments matched so far; raises SpecSyntaxError (unlocated)."""
        return self.words[text](args)


@dataclass(frozen=True)
class Param:
    """A tensor the layer owns: its shape from (args, in_shape), and how it starts.

    `fill` is a constant starting value; without one the tensor is a weight, drawn by the layer's init scheme
    (netlang/initializers.py) with the fan-in `fan_in` gives. `shape_doc` shows the shape in the docs.
    """

    name: str
    shape: Callable[[Args, Shape], Shape]
    shape_doc: str
    fill: float | None = None
    fan_in: Callable[[Args, Shape], int] | None = None


def same_shape(args: Args, in_shape: Shape) -> Shape:
    """The output shape of an op that keeps its input's."""
    return list(in_shape)


def no_macs(args: Args, in_shape: Shape, out_shape: Shape) -> int:
    return 0


@dataclass(frozen=True)
class Op:
    """A layer keyword and everything about it: the keyword, the IR `op` value and the registry key are one
    string.

    - `summary`: the one-line description (docs, reports).
    - `layer`: the NumPy layer class (netlang.backend.base.Layer).
    - `positional`, then `options` (`option value` pairs): the signature, in spec order.
    - `out_shape`, `params` (trainable), `buffers` (non-trainable state) and `macs`: the shape rules.
    - `checks`: (layer text, input shape) cases that the shared gradient and shape tests run for this op.
    - `merge`: the op joins several branches (written `+` or `|` between them, never as a keyword); its
      out_shape and macs take the list of its inputs' shapes, its layer's forward a list of arrays, and its
      backward returns a list of gradients.
    - `memory`: the layer's memory, mirrored without NumPy (a netlang.memory.layer.LayerMemory subclass), from
      which `summary --batch` and `train` forecast a training step's memory.
    - Flags the passes read: `activation` (initialisers look for the next one after a weighted layer),
      `relu_family` (He initialisation suits the weights before it), `last_only` (only as the network's last
      layer), `flattens_images` (an image input gets an implicit flatten first), `differentiable`.
    """

    name: str
    summary: str
    layer: type
    positional: tuple[Arg, ...] = ()
    options: tuple[Arg, ...] = ()
    out_shape: Callable[[Args, Shape], Shape] = same_shape
    params: tuple[Param, ...] = ()
    buffers: tuple[Param, ...] = ()
    macs: Callable[[Args, Shape, Shape], int] = no_macs
    checks: tuple[tuple[str, str], ...] = ()
    activation: bool = False
    relu_family: bool = False
    last_only: bool = False
    flattens_images: bool = False
    differentiable: bool = True
    merge: bool = False
    memory: type | None = None

    @property
    def args(self) -> tuple[Arg, ...]:
        return (*self.positional, *self.options)

    @property
    def weighted(self) -> bool:
        """Whether some parameter is drawn by an init scheme (rather than starting at a constant)."""
        return any(param.fill is None for param in self.params)

    def param_shapes(self, args: Args, in_shape: Shape) -> tuple[dict[str, Shape], dict[str, Shape]]:
        """(trainable parameter shapes, buffer shapes) by name."""
        return (
            {param.name: param.shape(args, in_shape) for param in self.params},
            {buffer.name: buffer.shape(args, in_shape) for buffer in self.buffers},
        )


def layer_text(op: Op, args: Args, compact: bool = False) -> str:
    """An IR layer's op and args as spec text (`conv 30 5x5 stride 2x2`), which lowers back to the same args.

    Positional arguments are always written, options only where they differ from their defaults; `compact`
    writes a square option size as one number (`stride 2`).
    """
    words = [op.name]
    for arg in op.positional:
        if arg.name in args:
            words.append(_value_text(args[arg.name]))
    for arg in op.options:
        value = args.get(arg.name)
        if value is not None and value != arg.default_for(args):
            words += [arg.name, _value_text(value, compact)]
    return " ".join(words)


def _value_text(value: Any, compact: bool = False) -> str:
    if isinstance(value, list):
        if compact and len(set(value)) == 1:
            return str(value[0])
        return "x".join(map(str, value))
    if isinstance(value, float):
        short = f"{value:g}"
        return short if float(short) == value else repr(value)
    return str(value)


# Shape arithmetic shared by several ops.


def describe(shape: Shape) -> str:
    """A shape in words: 'a 30×24×24 image', 'an 8×4×4 image' or 'a vector of 100'."""
    if len(shape) == 1:
        return f"a vector of {shape[0]}"
    first = str(shape[0])
    # "an" before eight, eleven and eighteen (and eighty, eleven thousand, ...)
    vowel = first.startswith("8") or (first[:2] in ("11", "18") and len(first) % 3 == 2)
    return f"{'an' if vowel else 'a'} {'×'.join(map(str, shape))} image"


def window_out(size: int, kernel: int, stride: int, pad: int, rounding: str, axis: str) -> int:
    """The output length of a sliding window: (size + 2·pad − kernel) / stride + 1, rounded as the spec asks.

    When that is not a whole number, "exact" (the default) still takes the floor if the partial last window
    it drops would read no input: only its end padding, or rows the stride skips between windows anyway. So
    ResNet's 3x3 stride 2 pad 1 on an even size (the bottom pad row is dropped) and a 1x1 stride 2 shortcut
    (every other row is skipped, the last one included) read as written, while a partial window over real
    input, as a 5x5 stride 2 without padding on 28 leaves one, stays refused: that is a size mistake until the
    spec says `round floor` (drop it) or, for pools, `round ceil` (keep it).
    """
    padded = size + 2 * pad
    if kernel > padded:
        padding = f" ({size} + 2×{pad})" if pad else ""
        raise ShapeError(f"the kernel {axis} {kernel} is larger than the padded input {axis} {padded}{padding}")
    steps, remainder = divmod(padded - kernel, stride)
    if remainder == 0 or rounding == "floor":
        return steps + 1
    if rounding == "ceil":
        out = steps + 2
        # As Caffe and PyTorch do: the last window must start inside the input or its left padding.
        if (out - 1) * stride >= size + pad:
            out -= 1
        return out
    # The `remainder` positions after the last whole window: first the gap the stride leaves between windows,
    # then what a next window would read, whose last `pad` are padding.
    unread = remainder - max(0, stride - kernel) - pad
    if unread <= 0:
        return steps + 1
    exact = (padded - kernel) / stride + 1
    rows = {"height": "row", "width": "column"}.get(axis, "position")
    rows += "s" if unread > 1 else ""
    raise ShapeError(
        f"the output {axis} ({size} + 2×{pad} − {kernel}) / {stride} + 1 = {exact:.4g} is not a whole number: "
        f"the last {unread} input {rows} would be read by no window; change the sizes, or add 'round floor' "
        "to the layer to drop the last partial window"
    )


def needs_image(op: str, in_shape: Shape) -> None:
    if len(in_shape) != 3:
        raise ShapeError(f"{op} needs an image input (C×H×W), but its input is {describe(in_shape)}")


def needs_vector(op: str, in_shape: Shape) -> None:
    if len(in_shape) != 1:
        raise ShapeError(f"{op} needs a vector input, but its input is {describe(in_shape)}; add 'flatten' first")


def window_shape(args: Args, in_shape: Shape, channels: int) -> Shape:
    """[channels, OH, OW] of a sliding window with the args' kernel, stride, pad and rounding."""
    (kh, kw), (sh, sw), (ph, pw) = args["kernel"], args["stride"], args["pad"]
    rounding = args.get("round", "exact")
    return [
        channels,
        window_out(in_shape[1], kh, sh, ph, rounding, "height"),
        window_out(in_shape[2], kw, sw, pw, rounding, "width"),
    ]


def per_channel(args: Args, in_shape: Shape) -> Shape:
    """One value per channel of an image, or per feature of a vector."""
    return [in_shape[0]]


# Arguments several ops share.

STRIDE = Arg("stride", "size", "the stride", required=False, bounds={"minimum": 1})


def same_padding(args: Args) -> list[int]:
    """The padding `pad same` stands for: (K − 1) / 2 on each side, for an odd kernel (or window) size K.

    At stride 1 the output keeps the input's size. At stride S it is ceil(size / S), TensorFlow's `same` size,
    whenever S ≤ (K + 1) / 2 or K = 1 (3x3 and 7x7 at stride 2, 1x1 at any stride: every ResNet and Inception
    case): the partial last window window_out then drops is only padding or skipped rows. The padding is PyTorch's
    symmetric one, as torchvision's ResNet writes it (3x3 stride 2 pad 1); TensorFlow instead puts the odd
    padding row at the bottom, which moves its windows one row down on even sizes. An even K would need that
    uneven padding, which netlang's layers do not have: it is refused here, at the word.
    """
    kernel = args["kernel"]
    even = [axis for axis, k in zip(("height", "width"), kernel, strict=True) if k >= 2 and k % 2 == 0]
    if even:
        written = "x".join(map(str, kernel))
        raise SpecSyntaxError(
            f"'pad same' pads (K − 1) / 2 on each side, which needs an odd kernel size; {written} has an even "
            f"{' and '.join(even)}: write the padding itself (pad 1, pad 1x2, ...), or on a pool 'round ceil' to "
            "keep a partial last window"
        )
    return [max(0, (k - 1) // 2) for k in kernel]


PAD = Arg(
    "pad", "size", "the padding (like 1, 1x2 or same)", noun="the padding", required=False, default=[0, 0],
    bounds={"minimum": 0}, words={"same": same_padding},
)
INIT = Arg(
    "init", "word", "the initialiser (he, xavier, std:0.01, ...)", noun="the initialiser", required=False,
    schema={
        "type": "string",
        "pattern": "^(he|he_uniform|xavier|xavier_uniform|(std|normal):[0-9.eE+-]+)$",
        "examples": ["he", "he_uniform", "xavier", "xavier_uniform", "std:SIGMA"],
    },
)


def rounding(*choices: str) -> Arg:
    return Arg("round", "choice", "the rounding of the output size", required=False, default="exact",
               choices=("exact", *choices))
