"""The order the model runs its layers in, which may differ from the IR's where that is cheaper and exact, and
the layers a convolution does the work of itself."""

from __future__ import annotations

from netlang.backend.base import Layer


def execution_order(layers: list[Layer]) -> list[Layer]:
    """The layers in IR order, except that a relu directly followed by a max pool runs after the pool, and
    without the layers fused into a conv before them (fuse_into_convs).

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
    return fuse_into_convs(order)


def fuse_into_convs(order: list[Layer]) -> list[Layer]:
    """`order` without the layers a conv does the work of itself: a max pool right after it, if it can
    (Conv.can_fuse_pool), then a relu right after that.

    Each call decides afresh: a model's body and pipeline, each planned by execution_order, get the same.
    """
    for layer in order:
        if layer.node["op"] == "conv":
            layer.fused_pool, layer.fused_relu = None, False
    kept: list[Layer] = []
    absorbed: dict[int, str] = {}  # id of a conv -> the op it last took in, in this pass
    for layer in order:
        conv = kept[-1] if kept and kept[-1].node["op"] == "conv" else None
        took = absorbed.get(id(conv))
        if conv is not None and took is None and conv.can_fuse_pool(layer):
            conv.fused_pool, absorbed[id(conv)] = layer, "pool"
        elif conv is not None and took != "relu" and layer.node["op"] == "relu":
            conv.fused_relu, absorbed[id(conv)] = True, "relu"
        else:
            kept.append(layer)
    return kept
