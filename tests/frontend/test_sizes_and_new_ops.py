"""Issue 10, section 3: output sizes that read as written (partial last windows of padding only, `pad same`), and
the shape rules and located errors of global_pool and upsample."""

from __future__ import annotations

from math import ceil

import numpy as np
import pytest

from netlang.backend import build
from netlang.errors import ShapeError, SpecSyntaxError
from netlang.language.compiler import compile_ir
from netlang.ops import OPS
from netlang.ops.base import PAD, layer_text, same_padding, window_out

IMG = "input 1x28x28\n"
VEC = "input 784\n"


def out_shape(spec: str, shape: str = "1x28x28") -> list[int]:
    return compile_ir(f"input {shape}\n{spec}\n")["layers"][-1]["out_shape"]


# The shared window arithmetic.


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "pad", "out"),
    [
        (28, 3, 2, 1, 14),  # ResNet's downsampling conv: the dropped position is the bottom padding
        (14, 3, 2, 1, 7),
        (7, 3, 2, 1, 4),  # exact already
        (112, 7, 2, 3, 56),  # ResNet's stem
        (28, 1, 2, 0, 14),  # the 1x1 stride 2 shortcut: the stride skips every other row, the last one too
        (9, 2, 3, 0, 3),  # a pool of stride 3 > window 2: rows 2, 5 and 8 are skipped alike
        (10, 4, 2, 1, 5),
    ],
)
def test_a_partial_last_window_of_padding_or_skipped_rows_needs_no_rounding(size, kernel, stride, pad, out):
    assert window_out(size, kernel, stride, pad, "exact", "height") == out
    assert window_out(size, kernel, stride, pad, "floor", "height") == out


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "pad", "unread"),
    [
        (28, 5, 2, 0, 1),  # the classic mistake: input row 27 would be read by no window
        (28, 3, 3, 0, 1),
        (6, 3, 3, 1, 1),  # padding 1 does not cover the two positions left over
        (7, 2, 3, 0, 1),
        (29, 8, 4, 1, 2),
    ],
)
def test_a_partial_last_window_over_input_rows_is_still_refused(size, kernel, stride, pad, unread):
    with pytest.raises(ShapeError, match=f"the last {unread} input rows? would be read by no window"):
        window_out(size, kernel, stride, pad, "exact", "height")
    floor = (size + 2 * pad - kernel) // stride + 1
    assert window_out(size, kernel, stride, pad, "floor", "height") == floor


def test_exact_rounding_takes_the_floor_exactly_when_no_input_row_is_left_to_a_partial_window():
    """Against a direct statement of the rule, position by position: past the last whole window, the input
    rows that a next window would start on or after (not those in the gap the stride leaves) are dropped."""
    for size in range(1, 30):
        for kernel in range(1, 8):
            for stride in range(1, 5):
                for pad in range(0, 4):
                    if kernel > size + 2 * pad:
                        continue
                    floor = (size + 2 * pad - kernel) // stride + 1
                    last_end, next_start = (floor - 1) * stride + kernel - 1, floor * stride
                    inputs = range(pad, pad + size)  # in padded coordinates
                    dropped = [row for row in inputs if row > last_end and row >= next_start]
                    if not dropped:
                        assert window_out(size, kernel, stride, pad, "exact", "width") == floor
                    else:
                        with pytest.raises(ShapeError, match=f"the last {len(dropped)} input columns? would"):
                            window_out(size, kernel, stride, pad, "exact", "width")


def test_same_padding_gives_ceil_size_over_stride_where_its_docstring_says():
    for kernel in (1, 3, 5, 7):
        for stride in range(1, 5):
            if kernel > 1 and stride > (kernel + 1) / 2:
                continue
            pad = same_padding({"kernel": [kernel, kernel]})[0]
            for size in range(1, 40):
                assert window_out(size, kernel, stride, pad, "exact", "height") == ceil(size / stride)


def test_same_is_a_word_of_the_padding_that_stands_for_plain_numbers():
    assert PAD.accepts_word("WORD", "same") and not PAD.accepts_word("WORD", "valid")
    assert not PAD.accepts_word("NUMBER", "1")
    assert PAD.word_value("same", {"kernel": [5, 3]}) == [2, 1]
    assert PAD.word_value("same", {"kernel": [1, 1]}) == [0, 0]
    with pytest.raises(SpecSyntaxError, match="needs an odd kernel size; 3x4 has an even width"):
        PAD.word_value("same", {"kernel": [3, 4]})
    assert OPS["conv"].options[1] is PAD and OPS["pool"].options[1] is PAD


@pytest.mark.parametrize(
    ("spec", "out"),
    [
        ("conv 8 3x3 stride 2 pad 1", [8, 14, 14]),
        ("conv 8 1x1 stride 2", [8, 14, 14]),
        ("pool 3 stride 2 pad 1", [1, 14, 14]),
        ("pool avg 3 stride 2 pad 1", [1, 14, 14]),
        ("conv 8 7x7 stride 2 pad 3 -> pool 3 stride 2 pad 1", [8, 7, 7]),
        ("conv 8 3 stride 2 pad 1 -> conv 8 3 stride 2 pad 1 -> conv 8 3 stride 2 pad 1", [8, 4, 4]),
    ],
)
def test_resnet_idioms_read_without_round_floor(spec, out):
    assert out_shape(spec) == out


# pad same, written in specs


@pytest.mark.parametrize(
    ("spec", "pad", "out"),
    [
        ("conv 4 3x3 pad same", [1, 1], [4, 28, 28]),
        ("conv 4 5x3 pad same", [2, 1], [4, 28, 28]),
        ("conv 4 3 stride 2 pad same", [1, 1], [4, 14, 14]),
        ("conv 4 1x1 stride 2 pad same", [0, 0], [4, 14, 14]),
        ("pool 3 stride 1 pad same", [1, 1], [1, 28, 28]),
        ("pool avg 3 stride 2 pad same", [1, 1], [1, 14, 14]),
        ("conv 4 7 pad same stride 2", [3, 3], [4, 14, 14]),
    ],
)
def test_pad_same_is_lowered_to_plain_padding(spec, pad, out):
    layer = compile_ir(f"{IMG}{spec}\n")["layers"][-1]
    assert layer["args"]["pad"] == pad
    assert layer["out_shape"] == out
    # the IR never holds the word: printed back, the layer says the numbers, which lower to the same args
    text = layer_text(OPS[layer["op"]], layer["args"])
    assert "same" not in text
    assert compile_ir(f"{IMG}{text}\n")["layers"][-1]["args"] == layer["args"]


@pytest.mark.parametrize(
    ("text", "col", "fragment"),
    [
        (IMG + "conv 3 2x2 pad same", 16, "needs an odd kernel size; 2x2 has an even height and width"),
        (IMG + "pool 2 pad same", 12, "or on a pool 'round ceil' to keep a partial last window"),
    ],
)
def test_pad_same_on_an_even_kernel_is_refused_at_the_word(text, col, fragment):
    with pytest.raises(SpecSyntaxError) as caught:
        compile_ir(text, filename="bad.net")
    assert fragment in caught.value.message
    assert (caught.value.line, caught.value.col) == (2, col)


# global_pool and upsample


def test_global_pool_reduces_any_image_to_its_channels():
    assert out_shape("global_pool", "3x8x8") == [3]
    assert out_shape("global_pool max", "5x1x9") == [5]
    ir = compile_ir("input 1x28x28\nconv 4 3 pad 1 -> global_pool -> affine 10 -> softmax\n")
    assert [layer["op"] for layer in ir["layers"]] == ["conv", "global_pool", "affine", "softmax"]  # no flatten
    assert ir["layers"][1]["args"] == {"kind": "avg"}
    assert (ir["layers"][1]["params"], ir["layers"][1]["macs"]) == (0, 0)


def test_upsample_multiplies_the_spatial_size():
    assert out_shape("upsample 2", "3x8x8") == [3, 16, 16]
    assert out_shape("upsample 2x3", "3x8x8") == [3, 16, 24]
    assert out_shape("pool 2 -> upsample 2", "4x28x28") == [4, 28, 28]  # U-Net's way back up


def test_global_pool_and_upsample_compute_their_reference_values():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4, 5))
    for kind, reference in (("avg", x.mean(axis=(2, 3))), ("max", x.max(axis=(2, 3)))):
        model = build(compile_ir(f"input 3x4x5\nglobal_pool {kind}\n"), dtype="float64")
        np.testing.assert_allclose(model.layers[0].forward(x, train=False), reference)
    model = build(compile_ir("input 3x4x5\nupsample 2x3\n"), dtype="float64")
    np.testing.assert_array_equal(model.layers[0].forward(x, train=False), np.kron(x, np.ones((2, 3))))


def test_global_max_pool_sends_the_gradient_to_the_maximum_only():
    model = build(compile_ir("input 1x2x2\nglobal_pool max\n"), dtype="float64")
    layer = model.layers[0]
    layer.forward(np.array([[[[1.0, 4.0], [3.0, 2.0]]]]), train=True)
    np.testing.assert_array_equal(layer.backward(np.array([[5.0]])), [[[[0.0, 5.0], [0.0, 0.0]]]])
