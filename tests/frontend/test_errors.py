"""Malformed specs: each gives one NetlangError of the right kind, located, with the message a user needs."""

from __future__ import annotations

import pytest

from netlang.errors import SchemaError, ShapeError, SpecSyntaxError
from netlang.language.compiler import compile_ir

IMG = "input 1x28x28\n"
VEC = "input 784\n"

# (spec text, error type, line, column, a fragment the message must contain)
CASES = [
    # syntax
    (IMG + "conv relu", SpecSyntaxError, 2, 6, "expected the number of filters after 'conv', got 'relu'"),
    (IMG + "conv 30 -> relu", SpecSyntaxError, 2, 8, "expected the kernel size (like 5x5 or 3) after 'conv 30'"),
    (IMG + "conv", SpecSyntaxError, 2, 5, "expected the number of filters after 'conv'"),
    (IMG + "conv 30 5x5 relu", SpecSyntaxError, 2, 13, "'relu' is a layer of its own: join layers with '->'"),
    (IMG + "conv 30 5x5 -> -> relu", SpecSyntaxError, 2, 16, "expected a layer after '->', got '->'"),
    (IMG + "conv 30 5x5 => relu", SpecSyntaxError, 2, 13, "layers are joined with '->'"),
    (IMG + "conv 30 5x5 strid 2", SpecSyntaxError, 2, 13, "unknown option 'strid' for 'conv' — did you mean 'stride'?"),
    (IMG + "conv 30 5x5 stride", SpecSyntaxError, 2, 19, "expected the stride after 'stride'"),
    (IMG + "conv 30 5x5 stride 2 stride 1", SpecSyntaxError, 2, 22, "'stride' is given twice for 'conv'"),
    (IMG + "conv 30 5x5x5", SpecSyntaxError, 2, 9, "expected the kernel size"),
    (IMG + "conv 30.5 5x5", SpecSyntaxError, 2, 6, "expected the number of filters after 'conv', got '30.5'"),
    (IMG + "conv 30 5x5 -> reul -> pool 2", SpecSyntaxError, 2, 16, "unknown layer 'reul' — did you mean 'relu'?"),
    (IMG + "convolution 30 5x5", SpecSyntaxError, 2, 1, "unknown layer 'convolution'"),
    (IMG + "pool average 2", SpecSyntaxError, 2, 6, "did you mean 'avg'?"),
    (IMG + "pool", SpecSyntaxError, 2, 5, "expected the pooling kind (max or avg) or the window size"),
    (IMG + "relu 3", SpecSyntaxError, 2, 6, "'relu' takes no arguments"),
    (IMG + "affine", SpecSyntaxError, 2, 7, "expected the number of outputs after 'affine'"),
    (IMG + "affine ten", SpecSyntaxError, 2, 8, "expected the number of outputs after 'affine', got 'ten'"),
    (IMG + "dropout", SpecSyntaxError, 2, 8, "expected the dropout ratio (like 0.5) after 'dropout'"),
    (IMG + "leaky_relu 0.1 0.2", SpecSyntaxError, 2, 16, "unexpected '0.2' after 'leaky_relu 0.1'"),
    (IMG + "affine 10 ->", SpecSyntaxError, 2, 13, "expected a layer after '->'"),
    (IMG + "-> affine 10", SpecSyntaxError, 2, 1, "expected a layer before '->'"),
    ("conv 30 5x5\n", SpecSyntaxError, 1, 1, "the spec must start with 'input'"),
    ("input\naffine 10", SpecSyntaxError, 1, 6, "expected the input shape after 'input'"),
    ("input 1x28\naffine 2", SpecSyntaxError, 1, 7, "the input shape must be CxHxW"),
    ("# nothing here\n", SpecSyntaxError, 1, 1, "the spec has no 'input' line"),
    (IMG, SpecSyntaxError, 1, 7, "the spec has no layers after 'input'"),
    (IMG + "affine 10\ninput 3", SpecSyntaxError, 3, 7, "a second 'input' line; the first is on line 1"),
    (IMG + "(conv 30 5x5 -> relu", SpecSyntaxError, 2, 21, "a group '(' is never closed: expected ')'"),
    (IMG + "conv 30 5x5 -> relu)", SpecSyntaxError, 2, 20, "unmatched ')'"),
    (IMG + "conv 30 5x5 * 2", SpecSyntaxError, 2, 13, "a repeat count ('* 2') may only follow a group"),
    (IMG + "c: conv 3 3 -> c: relu", SpecSyntaxError, 2, 16, "the layer name 'c' is already used on line 2"),
    (IMG + "affine 10\ntrain {\n  optimiser adam\n}", SpecSyntaxError, 4, 3, "did you mean 'optimizer'?"),
    (IMG + "affine 10\ntrain {\n  epochs ten\n}", SpecSyntaxError, 4, 10, "expected a whole number for 'epochs'"),
    (IMG + "affine 10\ntrain {\n  lr\n}", SpecSyntaxError, 4, 5, "expected a value after 'lr'"),
    (IMG + "affine 10\ntrain {\n  lr 0.1\n  lr 0.2\n}", SpecSyntaxError, 5, 3, "'lr' is set twice"),
    (IMG + "affine 10\ntrain {\n  lr 0.1\n", SpecSyntaxError, 4, 9, "a 'train' or 'search' section is never closed"),
    (IMG + "affine 10\ntrain {\n}\ntrain {\n}", SpecSyntaxError, 5, 1, "a second 'train' section"),
    (IMG + "affine 10 input 3", SpecSyntaxError, 2, 11, "'input' must start a line of its own"),
    (IMG + "conv 30 5x5 $ relu", SpecSyntaxError, 2, 13, "unexpected character '$'"),
    # schema: values out of range
    (IMG + "conv 0 5x5", SchemaError, 2, 6, "the number of filters of conv1 must be at least 1, got 0"),
    (IMG + "conv -3 5x5", SchemaError, 2, 6, "the number of filters of conv1 must be at least 1, got -3"),
    (IMG + "conv 3 0x3", SchemaError, 2, 8, "the kernel size of conv1"),
    (IMG + "conv 3 3 stride 0", SchemaError, 2, 17, "the stride of conv1"),
    (IMG + "conv 3 3 pad -1", SchemaError, 2, 14, "the padding of conv1"),
    (IMG + "affine 0", SchemaError, 2, 8, "the number of outputs of affine1 must be at least 1, got 0"),
    (IMG + "affine 10 -> dropout 1.5", SchemaError, 2, 22, "the dropout ratio of dropout1 must be in [0, 1), got 1.5"),
    (IMG + "affine 10 -> dropout 1", SchemaError, 2, 22, "must be in [0, 1), got 1"),
    (IMG + "affine 10 -> dropout -0.1", SchemaError, 2, 22, "must be in [0, 1), got -0.1"),
    (IMG + "affine 10 -> elu 0", SchemaError, 2, 18, "alpha of elu1 must be greater than 0"),
    (IMG + "batchnorm momentum 1", SchemaError, 2, 20, "the running-average momentum of batchnorm1 must be in [0, 1)"),
    ("input 0x28x28\naffine 3", SchemaError, 1, 7, "the input shape"),
    (IMG + "conv 30 5x5 init foo", SchemaError, 2, 18, "the initialiser of conv1 must be one of he"),
    (IMG + "affine 10\ntrain {\n  lr -1\n}", SchemaError, 4, 6, "the learning rate must be greater than 0, got -1"),
    (IMG + "affine 10\ntrain {\n  optimizer adamw\n}", SchemaError, 4, 13, "did you mean 'adam'?"),
    (IMG + "affine 10\ntrain {\n  val_split 1.2\n}", SchemaError, 4, 13, "must be in [0, 1), got 1.2"),
    (IMG + "affine 10\ntrain {\n  batch_size 0\n}", SchemaError, 4, 14, "the batch size must be at least 1"),
    # meaning and shape
    (IMG + "conv 30 29x29", ShapeError, 2, 1, "conv1: the kernel height 29 is larger than the padded input height 28"),
    (IMG + "conv 30 31x3 pad 1", ShapeError, 2, 1, "larger than the padded input height 30 (28 + 2×1)"),
    (IMG + "conv 30 5x5 stride 2", ShapeError, 2, 1, "(28 + 2×0 − 5) / 2 + 1 = 12.5 is not a whole number"),
    (IMG + "pool 3", ShapeError, 2, 1, "pool1: the output height (28 + 2×0 − 3) / 3 + 1 = 9.333"),
    (IMG + "pool 2 pad 2", ShapeError, 2, 1, "more than half the window"),
    (IMG + "affine 10 -> softmax -> relu", ShapeError, 2, 14, "softmax may only be the last layer"),
    (IMG + "softmax", ShapeError, 2, 1, "softmax needs a vector input"),
    (VEC + "conv 3 3x3", ShapeError, 2, 1, "conv needs an image input (C×H×W), but its input is a vector of 784"),
    (VEC + "pool 2", ShapeError, 2, 1, "pool needs an image input"),
    ("input 1x4x4\n(conv 2 3x3 pad 1 -> pool 2) * 3", ShapeError, 2, 22, "pool3: the kernel height 2 is larger"),
    # output sizes that read as written, pad same, global_pool and upsample
    (IMG + "conv 30 5x5 stride 2", ShapeError, 2, 1, "12.5 is not a whole number: the last 1 input row would be"),
    (IMG + "conv 8 3x3 stride 2", ShapeError, 2, 1, "conv1: the output height (28 + 2×0 − 3) / 2 + 1 = 13.5"),
    ("input 1x27x28\npool 3", ShapeError, 2, 1, "the last 1 input column would be read by no window"),
    (IMG + "conv 8 3 -> pool 3", ShapeError, 2, 13, "pool1: the output height (26 + 2×0 − 3) / 3 + 1 = 8.667"),
    (VEC + "global_pool", ShapeError, 2, 1, "global_pool needs an image input (C×H×W), but its input is a vector"),
    (IMG + "affine 10 -> global_pool", ShapeError, 2, 14, "global_pool1: global_pool needs an image input"),
    (IMG + "global_pool mean", SpecSyntaxError, 2, 13, "unknown option 'mean' for 'global_pool'"),
    (VEC + "upsample 2", ShapeError, 2, 1, "upsample needs an image input"),
    (IMG + "upsample", SpecSyntaxError, 2, 9, "expected the upsampling factor (like 2 or 2x3) after 'upsample'"),
    (IMG + "upsample 1.5", SpecSyntaxError, 2, 10, "expected the upsampling factor (like 2 or 2x3)"),
    (IMG + "upsample 0", SchemaError, 2, 10, "the upsampling factor of upsample1 must be at least 1, got 0"),
    (IMG + "upsample 2 -> upsample 2x0", SchemaError, 2, 24, "the upsampling factor of upsample2"),
    (IMG + "conv 3 3 pad same2", SpecSyntaxError, 2, 14, "expected the padding (like 1, 1x2 or same) after 'pad'"),
]


@pytest.mark.parametrize(("text", "kind", "line", "col", "fragment"), CASES, ids=[c[4][:40] for c in CASES])
def test_malformed_spec_is_located_and_explained(text, kind, line, col, fragment):
    with pytest.raises(kind) as caught:
        compile_ir(text, filename="bad.net")
    error = caught.value
    assert fragment in error.message
    assert (error.file, error.line, error.col) == ("bad.net", line, col)
    shown = error.format().splitlines()
    assert shown[0] == f"bad.net:{line}:{col}: {error.message}"
    assert shown[2].strip().startswith("^") and shown[2].index("^") == col - 1 + 4


def test_there_are_at_least_forty_cases():
    assert len(CASES) >= 40


def test_caret_underlines_the_whole_token():
    with pytest.raises(SpecSyntaxError) as caught:
        compile_ir(IMG + "conv 30 5x5 -> reul", filename="bad.net")
    assert caught.value.format().splitlines()[2] == "    " + " " * 15 + "^~~~"


def test_tabs_in_the_source_line_keep_the_caret_aligned():
    with pytest.raises(SpecSyntaxError) as caught:
        compile_ir(IMG + "\tconv 30 5x5 -> reul", filename="bad.net")
    lines = caught.value.format().splitlines()
    assert lines[1][lines[2].index("^")] == "r"
