"""Time reading weights files and data arrays through netlang's checked .npz reader.

    python bench/npz_read.py [--runs 5] [--width 4096]

Writes, in a temporary folder, the weights of DeepConvNet (specs/deep_convnet.net, 0.5 MB) and of a wide
perceptron (784 -> width -> width -> 10; 4096 gives 71 MB), and a data set .npz of 60,000 float32 28x28
images (188 MB). Prints the median and best time of:
- read_checkpoint(weights, expected shapes): what `eval` and `predict --weights` do to load a model;
- the whole `netlang predict SPEC --weights WEIGHTS x.npy` command, interpreter start-up included;
- load_dataset("npz:PATH"): the data reader, the data limit applied.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from netlang.backend import build
from netlang.backend.checkpoint import read_checkpoint
from netlang.data import load_dataset
from netlang.language.compiler import compile_ir

REPO = Path(__file__).resolve().parents[1]


def timed(action: Callable[[], object], runs: int) -> tuple[float, float]:
    """(median, best) wall-clock seconds of `runs` calls of `action`, after one untimed warm-up call."""
    action()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def report(label: str, figures: tuple[float, float]) -> None:
    median, best = figures
    print(f"{label:<48} median {median * 1000:9.1f} ms   best {best * 1000:9.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--width", type=int, default=4096)
    args = parser.parse_args()
    wide = f"input 784\naffine {args.width} -> relu -> affine {args.width} -> relu -> affine 10 -> softmax\n"
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "wide.net").write_text(wide)
        np.save(root / "x.npy", np.zeros((1, 1, 28, 28), np.float32))
        np.save(root / "flat.npy", np.zeros((1, 784), np.float32))
        networks = (("deep_convnet", REPO / "specs" / "deep_convnet.net", "x.npy"),
                    (f"wide {args.width}", root / "wide.net", "flat.npy"))
        for name, spec, inputs in networks:
            model = build(compile_ir(spec), seed=0)
            weights = root / f"{spec.stem}.npz"
            model.save(weights)
            expected = {key: tuple(array.shape) for key, array in model.state_dict().items()}
            megabytes = weights.stat().st_size / 1e6
            report(f"read_checkpoint {name} ({megabytes:.1f} MB)",
                   timed(lambda weights=weights, expected=expected: read_checkpoint(weights, expected), args.runs))
            command = [sys.executable, "-m", "netlang", "predict", str(spec), "--weights", str(weights),
                       str(root / inputs)]
            report(f"netlang predict --weights {name}",
                   timed(lambda command=command: subprocess.run(command, check=True, capture_output=True), args.runs))
        rng = np.random.default_rng(0)
        images = rng.random((60_000, 1, 28, 28), dtype=np.float32)
        labels = rng.integers(0, 10, 60_000)
        data = root / "set.npz"
        np.savez(data, x_train=images, y_train=labels, x_test=images[:10_000], y_test=labels[:10_000])
        report(f"load_dataset npz ({data.stat().st_size / 1e6:.0f} MB)",
               timed(lambda: load_dataset(f"npz:{data}"), args.runs))


if __name__ == "__main__":
    main()
