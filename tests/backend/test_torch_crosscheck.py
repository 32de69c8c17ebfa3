"""Optional: outputs, loss and gradients against PyTorch on shared weights (skipped without torch).

Dropout masks are shared too: the NumPy forward runs first and PyTorch multiplies by the same scaled mask.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from netlang.backend import build
from netlang.backend.gradcheck import relative_error
from netlang.language.compiler import compile_ir
from netlang.targets import torch_modules

torch = pytest.importorskip("torch")
nn = torch.nn

SPECS = Path(__file__).parents[2] / "specs"
TOLERANCE = 1e-4

# No batchnorm straight after conv/affine: the bias gradient there is zero up to rounding noise.
EVERY_OP = (
    "input 3x13x13\n"
    "conv 6 3x3 stride 2 pad 1 -> prelu -> batchnorm -> pool 2 stride 2 round ceil\n"
    "conv 8 2x2 pad 1 -> leaky_relu 0.1 -> pool avg 3 stride 2 pad 1 -> elu 0.8 -> flatten\n"
    "affine 20 -> swish -> batchnorm -> dropout 0.3 -> affine 12 -> tanh -> affine 9 -> sigmoid\n"
    "affine 7 -> relu -> affine 5 -> identity -> softmax\n"
)


class SharedMask(nn.Module):
    """Dropout with the mask the NumPy layer drew."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        return x * torch.from_numpy(self.layer.scaled_mask)


def torch_layer(layer):
    """The PyTorch module computing the same function as a NumPy backend layer (netlang's torch target),
    sharing its weights; dropout multiplies by the mask the NumPy layer drew."""
    if layer.node["op"] == "dropout":
        return SharedMask(layer)
    module = torch_modules.lower(layer.node)
    torch_modules.load_tensors(module, layer.node["op"], {**layer.params, **layer.buffers})
    return module


def compare(spec, batch=8, seed=0):
    torch.set_num_threads(2)
    model = build(compile_ir(spec), seed=seed)
    assert model.layers[-1].node["op"] == "softmax"
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch,) + tuple(model.ir["input"]["shape"])).astype(np.float32)
    labels = rng.integers(0, model.layers[-1].out_shape[0], size=batch)
    for params in model.params.values():  # move batchnorm/prelu params off their start values
        params[...] += 0.1 * rng.standard_normal(params.shape).astype(np.float32)
    loss, grads, probs = model.loss_and_gradients(x, labels)

    by_name = {layer.name: layer for layer in model.layers}
    # The softmax is inside the loss. Dropout multiplies by the masks the NumPy layers drew.
    net = torch_modules.lower_network(
        [layer.node for layer in model.layers[:-1]], lambda node: torch_layer(by_name[node["name"]])
    ).train()
    modules = [net.layers[layer.name.replace(".", "_")] for layer in model.layers[:-1]]
    logits = net(torch.from_numpy(x))
    torch_loss = nn.functional.cross_entropy(logits, torch.from_numpy(labels))
    torch_loss.backward()

    assert loss == pytest.approx(torch_loss.item(), rel=TOLERANCE)
    errors = {"outputs": relative_error(probs, torch.softmax(logits, 1).detach().numpy())}
    batchnorms = [layer for layer in model.layers if layer.node["op"] == "batchnorm"]
    before_batchnorm = {name for layer in batchnorms for name in layer.node["inputs"]}
    for layer, module in zip(model.layers, modules, strict=False):
        for kind in layer.params:
            torch_grad = torch_modules.torch_grad(module, layer.node["op"], kind)
            ours = grads[f"{layer.name}.{kind}"]
            if kind == "b" and layer.name in before_batchnorm:
                # batchnorm cancels a bias before it: both gradients are zero up to float32 rounding
                assert np.abs(ours).max() < 1e-5 and np.abs(torch_grad).max() < 1e-5
                continue
            errors[f"{layer.name}.{kind}"] = relative_error(ours, torch_grad)
    assert max(errors.values()) <= TOLERANCE, errors
    return errors


def test_simple_convnet_matches_pytorch():
    errors = compare(SPECS / "simple_convnet.net")
    assert set(errors) == {
        "outputs",
        "conv1.W",
        "conv1.b",
        "affine1.W",
        "affine1.b",
        "affine2.W",
        "affine2.b",
    }


def test_deep_convnet_matches_pytorch():
    errors = compare(SPECS / "deep_convnet.net")
    assert len(errors) == 1 + 2 * 8


def test_every_op_pytorch_has_matches_pytorch():
    compare(EVERY_OP, batch=6)


RESIDUAL = (
    "input 1x12x12\n"
    "conv 8 3x3 pad 1 -> batchnorm -> relu\n"
    "(conv 8 3x3 pad 1 -> batchnorm -> relu -> conv 8 3x3 pad 1 -> batchnorm + identity) -> relu\n"
    "stage: (conv 16 3x3 stride 2 pad 1 round floor -> batchnorm -> relu -> conv 16 3x3 pad 1 -> batchnorm"
    " + conv 16 1x1 stride 2 round floor -> batchnorm) -> relu\n"
    "pool avg 6 -> affine 10 -> softmax\n"
)

INCEPTION = (
    "input 3x10x10\n"
    "conv 8 3x3 pad 1 -> relu -> pool 2\n"
    "(conv 4 1x1 | conv 4 1x1 -> relu -> conv 6 3x3 pad 1 | pool max 3 stride 1 pad 1 -> conv 4 1x1"
    " | conv 2 1x1 -> relu -> conv 3 3x3 pad 1 -> relu -> conv 3 3x3 pad 1) -> relu\n"
    "(affine 12 -> relu | affine 8 -> tanh) -> affine 5 -> softmax\n"
)


def test_a_residual_network_matches_pytorch():
    errors = compare(RESIDUAL)
    assert {"conv1.W", "stage.conv4.W", "stage.conv5.W", "stage.batchnorm6.gamma", "affine1.W"} <= set(errors)


def test_an_inception_style_network_matches_pytorch():
    errors = compare(INCEPTION)
    assert len(errors) == 1 + 2 * 11


# Issue 10's single-input additions: upsample, global_pool (avg and max), and windows whose partial last window
# is only padding (3x3 stride 2 pad 1 on 12 and 10) or rows the stride skips (1x1 stride 2 on 12, a fused
# max pool 2 stride 3 on 12), which netlang now takes without 'round floor', as PyTorch's floor does.
NEW_OPS = (
    "input 3x12x12\n"
    "conv 6 3x3 stride 2 pad 1 -> relu -> upsample 2 -> conv 5 3x3 pad 1 -> relu -> pool 2 stride 3\n"
    "upsample 2x3 -> conv 4 1x1 stride 2 -> global_pool -> affine 7 -> softmax\n"
)
GLOBAL_MAX = (
    "input 2x10x10\n"
    "conv 4 3x3 stride 2 pad 1 -> elu -> pool avg 3 stride 2 pad 1 -> global_pool max -> affine 5 -> softmax\n"
)


def test_upsample_global_pool_and_padding_only_partial_windows_match_pytorch():
    model = build(compile_ir(NEW_OPS))
    assert [layer.out_shape for layer in model.layers if layer.node["op"] != "relu"] == [
        (6, 6, 6), (6, 12, 12), (5, 12, 12), (5, 4, 4), (5, 8, 12), (4, 4, 6), (4,), (7,), (7,),
    ]
    errors = compare(NEW_OPS, batch=5)
    assert set(errors) == {"outputs", "conv1.W", "conv1.b", "conv2.W", "conv2.b", "conv3.W", "conv3.b",
                           "affine1.W", "affine1.b"}
    compare(GLOBAL_MAX, batch=6)
