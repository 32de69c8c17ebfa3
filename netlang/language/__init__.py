"""The language: spec text and IR files in, validated and shape-inferred IR out (see compiler.py's stages)."""
