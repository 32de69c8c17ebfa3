"""The order the model runs its layers in, which may differ from the IR's where that is cheaper and exact."""

from __future__ import annotations

from netlang.backend.base import Layer


def execution_order(layers: list[Layer]) -> list[Layer]:
    """The layers in IR order, except that a relu directly followed by a max pool runs after the pool.

    relu(maxpool(x)) == maxpool(relu(x)): relu is monotone, and every window holds at least one real value
    (padding is -inf). Pooling first lets relu touch KH*KW times fewer values, forward and backward; the
    gradient is the same (a window whose maximum is <= 0 gets none either way).
    """
    order = list(layers)
    i = 0
    while i < len(order) - 1:
        first, second = order[i], order[i + 1]
        if first.node["op"] == "relu" and second.node["op"] == "pool" and second.args.get("kind") == "max":
            order[i], order[i + 1] = second, first
            i += 2
        else:
            i += 1
    return fuse_relus(order)


def fuse_relus(order: list[Layer]) -> list[Layer]:
    """`order` without each relu that directly follows a conv, which then applies the relu itself (fused_relu).

    Flags are only ever set: a model's body and pipeline, each planned by execution_order, agree on them.
    """
    kept: list[Layer] = []
    for layer in order:
        if layer.node["op"] == "relu" and kept and kept[-1].node["op"] == "conv":
            kept[-1].fused_relu = True
        else:
            kept.append(layer)
    return kept
