"""--threads for the scripts in bench/, applied before NumPy (or PyTorch) loads: thread pools are sized then.

Import this module, and call threads_from_argv(), before importing NumPy.
"""

from __future__ import annotations

import os
import sys


def threads_from_argv(default: str = "2") -> str:
    """The value after --threads on the command line (else $NETLANG_BENCH_THREADS, else `default`), set as the
    thread count of OpenMP, OpenBLAS and MKL for this process and the processes it starts."""
    threads = os.environ.get("NETLANG_BENCH_THREADS", default)
    if "--threads" in sys.argv[:-1]:
        threads = sys.argv[sys.argv.index("--threads") + 1]
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = threads
    return threads
