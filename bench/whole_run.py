"""Whole training runs, netlang against a plain PyTorch script: wall time and test accuracy of the book's recipe.

    python bench/whole_run.py                      # 20 epochs each (several minutes)
    python bench/whole_run.py --epochs 2           # shorter
    python bench/whole_run.py --loader tensor      # PyTorch batches by slicing tensors instead of a DataLoader
    (netlang installed, e.g. `pip install -e .`, or PYTHONPATH=. from the repository root)

The recipe is SimpleConvNet as the book trains it (specs/simple_convnet_book.net: conv 30 5x5 -> relu -> pool 2 ->
affine 100 -> relu -> affine 10, weights drawn with std 0.01, Adam lr 1e-3, batch 100) on Fashion-MNIST. Each
framework runs in a fresh process of its own, one after the other, timed from start to exit by this script: so
starting Python, importing the framework, reading the data, shuffling every epoch, the per-epoch checkpoint
(weights and optimizer state) and the final test evaluation all count. netlang runs `netlang train` (which also
writes its run directory: metrics, weights, result); PyTorch runs the script in torch_run() below, written as a
PyTorch user would write it (a DataLoader over a TensorDataset, shuffle=True; or, with --loader tensor, slices of
a permuted index). Both use their default threads. PyTorch is only needed for this script.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "specs" / "simple_convnet_book.net"
DATA = Path("/usr/share/datasets/fashion-mnist")


def read_idx(path: Path):
    """An IDX file (gzipped or not) as a NumPy array, the plain way."""
    import gzip

    import numpy as np

    raw = (gzip.open if path.suffix == ".gz" else open)(path, "rb").read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)


def torch_run(epochs: int, out: Path, loader: str, data: Path) -> dict:
    """The book's recipe as a plain PyTorch script: train, checkpoint every epoch, test at the end."""
    import torch
    from torch import nn

    torch.manual_seed(0)

    def tensors(images: str, labels: str):
        x = torch.from_numpy(read_idx(data / images).astype("float32") / 255.0).unsqueeze(1)
        return x, torch.from_numpy(read_idx(data / labels).astype("int64"))

    x_train, y_train = tensors("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
    x_test, y_test = tensors("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    model = nn.Sequential(
        nn.Conv2d(1, 30, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(4320, 100), nn.ReLU(), nn.Linear(100, 10),
    )  # fmt: skip
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(module.weight, std=0.01)
            nn.init.zeros_(module.bias)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    if loader == "dataloader":
        batches = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(x_train, y_train), batch_size=100, shuffle=True
        )
    for epoch in range(epochs):
        model.train()
        if loader == "tensor":
            order = torch.randperm(len(x_train))
            batches = ((x_train[i], y_train[i]) for i in order.split(100))
        correct = seen = 0
        total_loss = 0.0
        for x, y in batches:
            optimizer.zero_grad(set_to_none=True)
            outputs = model(x)
            loss = loss_fn(outputs, y)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(y)
            correct += (outputs.argmax(1) == y).sum().item()
            seen += len(y)
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch + 1},
                   out / "checkpoint.pt")
        print(f"epoch {epoch + 1}: loss {total_loss / seen:.4f}, train acc {correct / seen:.4f}", file=sys.stderr)
    model.eval()
    with torch.no_grad():
        pairs = zip(x_test.split(1000), y_test.split(1000), strict=True)
        correct = sum((model(x).argmax(1) == y).sum().item() for x, y in pairs)
    return {"test_acc": correct / len(x_test)}


def timed(command: list[str]) -> tuple[float, str]:
    """(wall seconds, stdout) of a command run to its end; it must succeed."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=20, help="epochs for each framework (20, the book's)")
    parser.add_argument("--loader", choices=("dataloader", "tensor"), default="dataloader",
                        help="how the PyTorch script batches (dataloader)")
    parser.add_argument("--data", type=Path, default=DATA, help=f"the Fashion-MNIST IDX files ({DATA})")
    parser.add_argument("--torch-worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if args.torch_worker:
        print(json.dumps(torch_run(args.epochs, args.torch_worker, args.loader, args.data)))
        return

    with tempfile.TemporaryDirectory(prefix="whole_run") as scratch:
        runs = Path(scratch)
        (runs / "torch").mkdir()
        os.environ["NETLANG_DATA"] = str(args.data.parent)
        netlang_seconds, _ = timed([sys.executable, "-m", "netlang", "train", str(SPEC), "--out",
                                    str(runs / "netlang"), "--epochs", str(args.epochs), "--data", args.data.name])
        netlang_acc = json.loads((runs / "netlang" / "result.json").read_text())["test_acc"]
        torch_seconds, output = timed([sys.executable, __file__, "--torch-worker", str(runs / "torch"),
                                       "--epochs", str(args.epochs), "--loader", args.loader, "--data", str(args.data)])
        torch_acc = json.loads(output.strip().splitlines()[-1])["test_acc"]

    print(f"{SPEC.name} on {args.data.name}, {args.epochs} epochs, batch 100, Adam 1e-3, std 0.01 init; "
          f"wall time from process start to exit")
    print(f"{'':<10} {'wall s':>8} {'test acc':>9}")
    print(f"{'netlang':<10} {netlang_seconds:>8.1f} {netlang_acc:>9.4f}")
    print(f"{'pytorch':<10} {torch_seconds:>8.1f} {torch_acc:>9.4f}   ({args.loader})")
    print(f"netlang/pytorch wall time: {netlang_seconds / torch_seconds:.2f}")


if __name__ == "__main__":
    main()
