"""Targets other than the NumPy engine: tables from every op of the registry to another system's terms.

Each target is one module with an entry per op (torch_modules.py: PyTorch modules). They live per target, not
with the ops, because each imports an optional package (torch, onnx) that the ops must never need, and one
target's entries are read and reviewed side by side. tests/test_registries.py fails when a target lacks an op.
"""
