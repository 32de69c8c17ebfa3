"""Fuzzing the files training writes: damaged weights.npz and checkpoint.npz, read back by every entry point.

A tiny XOR run is trained once; Hypothesis then damages one of its files (flipped bytes, a cut-off end,
a member of another dtype or shape, a member removed, added or given other JSON) and runs `eval`,
`predict --weights` and `train --resume` on it. Each must succeed or fail with a NetlangError (exit 1 or 2,
one message, no traceback); any other exception escapes main() and fails the test. Hypothesis' deadline
bounds the time of each example.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netlang.cli import main

REPO = Path(__file__).resolve().parents[2]
XOR = REPO / "specs" / "xor.net"
TARGETS = ("weights.npz", "checkpoint.npz")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A finished two-epoch XOR run and a batch of inputs for predict."""
    root = tmp_path_factory.mktemp("fuzz")
    code, _, err = quietly(["train", str(XOR), "--out", str(root / "run"), "--epochs", "2"])
    assert code == 0, err
    np.save(root / "inputs.npy", np.array([[0, 0], [1, 0]], dtype=np.float32))
    return root


def quietly(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


# -- mutations: each takes the file's bytes (and a draw) and returns the damaged bytes ------------------------


def members_of(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


@st.composite
def flipped_bytes(draw, data: bytes) -> bytes:
    damaged = bytearray(data)
    for index in draw(st.lists(st.integers(0, len(data) - 1), min_size=1, max_size=8)):
        damaged[index] ^= draw(st.integers(1, 255))
    return bytes(damaged)


@st.composite
def truncated(draw, data: bytes) -> bytes:
    return data[: draw(st.integers(0, len(data) - 1))]


DTYPES = ("float16", "float64", "int64", "uint8", "bool", "complex64", "U4", "S3", "V8")


@st.composite
def retyped_member(draw, data: bytes) -> bytes:
    arrays = members_of(data)
    name = draw(st.sampled_from(sorted(arrays)))
    dtype = draw(st.sampled_from(DTYPES))
    try:
        arrays[name] = arrays[name].astype(dtype)
    except (ValueError, TypeError):
        arrays[name] = np.zeros(arrays[name].shape, dtype=dtype)
    return npz_bytes(arrays)


@st.composite
def reshaped_member(draw, data: bytes) -> bytes:
    arrays = members_of(data)
    name = draw(st.sampled_from(sorted(arrays)))
    shape = tuple(draw(st.lists(st.integers(0, 5), max_size=4)))
    array = arrays[name]
    fill = array.flat[0] if array.size else 0
    arrays[name] = np.full(shape, fill, dtype=array.dtype)
    return npz_bytes(arrays)


@st.composite
def removed_or_added_member(draw, data: bytes) -> bytes:
    arrays = members_of(data)
    if draw(st.booleans()):
        del arrays[draw(st.sampled_from(sorted(arrays)))]
    else:
        name = draw(st.sampled_from(["extra", "model/extra.W", "optimizer/v/affine1.W", "optimizer/q/x", "state/x"]))
        arrays[name] = np.zeros(draw(st.lists(st.integers(0, 3), max_size=2)), dtype=np.float32)
    return npz_bytes(arrays)


JSON_TEXTS = ("", "{", "null", "[]", "1e999", '"text"', "{}", '{"bit_generator": "MT19937"}',
              '{"epochs": 1e308}', "[" * 5000 + "]" * 5000, '{"loss": NaN, "correct": -1}')


@st.composite
def other_json(draw, data: bytes) -> bytes:
    arrays = members_of(data)
    texts = sorted(name for name, array in arrays.items() if array.dtype.kind == "U")
    if not texts:
        return data
    arrays[draw(st.sampled_from(texts))] = np.array(draw(st.sampled_from(JSON_TEXTS)))
    return npz_bytes(arrays)


@st.composite
def edited_json_field(draw, data: bytes) -> bytes:
    """One field of a JSON state entry replaced by an odd value: the structure is right, a value is not."""
    import json

    arrays = members_of(data)
    states = sorted(name for name in arrays if name.startswith("state/") and arrays[name].dtype.kind == "U")
    if not states:
        return data
    name = draw(st.sampled_from(states))
    value = json.loads(str(arrays[name]))
    odd = draw(st.sampled_from([None, -1, 1.5, 1e308, "x", [], {}, True, 2**70]))
    if isinstance(value, dict) and value:
        value[draw(st.sampled_from(sorted(value)))] = odd
    else:
        value = odd
    arrays[name] = np.array(json.dumps(value))
    return npz_bytes(arrays)


MUTATIONS = (flipped_bytes, truncated, retyped_member, reshaped_member, removed_or_added_member, other_json,
             edited_json_field)


@st.composite
def damaged_file(draw) -> tuple[str, st.SearchStrategy]:
    return draw(st.sampled_from(TARGETS)), draw(st.sampled_from(MUTATIONS))


def assert_clean_outcome(argv: list[str]) -> None:
    code, _, err = quietly(argv)  # any exception other than a NetlangError propagates and fails the test
    assert code in (0, 1, 2), (argv, code, err)
    if code:
        assert err.strip() and "Traceback" not in err, (argv, err)


# NETLANG_FUZZ_EXAMPLES=2000 runs a longer fuzzing session; the default keeps the test suite fast.
EXAMPLES = int(os.environ.get("NETLANG_FUZZ_EXAMPLES", "40"))


@settings(max_examples=EXAMPLES, deadline=5000,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_damaged_run_files_give_success_or_a_netlang_error(trained, tmp_path_factory, data):
    target, mutation = data.draw(damaged_file())
    run = tmp_path_factory.mktemp("damaged") / "run"
    shutil.copytree(trained / "run", run)
    path = run / target
    path.write_bytes(data.draw(mutation(path.read_bytes())))

    assert_clean_outcome(["eval", str(XOR), "--weights", str(path)])
    assert_clean_outcome(["predict", str(XOR), "--weights", str(path), str(trained / "inputs.npy")])
    assert_clean_outcome(["train", str(XOR), "--resume", str(run), "--epochs", "3"])


def test_a_header_claiming_a_huge_array_is_refused_without_allocating(trained, tmp_path):
    """An .npy header may claim any shape; the claim is compared with the member's size before reading."""
    run = tmp_path / "run"
    shutil.copytree(trained / "run", run)
    path = run / "weights.npz"
    arrays = members_of(path.read_bytes())
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            if name == "affine1.W":  # 400 GB claimed, 32 bytes present
                header = {"descr": "<f4", "fortran_order": False, "shape": (99999999999,)}
                np.lib.format.write_array_header_1_0(buffer, header)
                buffer.write(array.tobytes())
            else:
                np.save(buffer, array)
            archive.writestr(name + ".npy", buffer.getvalue())
    code, _, err = quietly(["eval", str(XOR), "--weights", str(path)])
    assert code == 1 and "affine1.W" in err and "damaged" in err
