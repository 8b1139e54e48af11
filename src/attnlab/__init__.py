"""attnlab: where does information get lost in a sequence model, and how does attention stop it?"""

import ctypes
import os
import sys

# An idle OpenMP thread spins for GOMP_SPINCOUNT iterations before it sleeps (read when torch
# loads, so set before it is imported). libgomp's default, 300,000, made 2 intra-op threads
# 10-20x slower when other processes kept the cores busy; sleeping at once (PASSIVE) made an
# RNN's many small kernels 1.7x slower on an idle machine. 3,000 (a few microseconds) keeps
# most of the idle speed and fails gently under load (benchmarks/README.md has the table).
# Setting OMP_WAIT_POLICY or GOMP_SPINCOUNT yourself overrides this.
# APPLIED_ENV: what this import applied, as the environment variables that give a child process
# the same settings (benchmarks/joeynmt_side.py passes them on, or takes them away, for JoeyNMT).
APPLIED_ENV: dict[str, str] = {}
if not {"OMP_WAIT_POLICY", "GOMP_SPINCOUNT"} & set(os.environ):
    os.environ["GOMP_SPINCOUNT"] = APPLIED_ENV["GOMP_SPINCOUNT"] = "3000"

# glibc hands every freed block above its mmap threshold (at most 32 MiB) back to the OS, so
# the next tensor of that size is page-faulted in afresh: in a training step that is a few
# large tensors every step, and it cost the GRU+Bahdanau decoder loop 45% of its forward time
# (benchmarks/README.md). Keep up to 1 GiB of freed memory in the heap for reuse instead.
# Setting MALLOC_MMAP_THRESHOLD_ or MALLOC_TRIM_THRESHOLD_ yourself overrides this.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
_KEEP_FREED_BYTES = 2**30
if sys.platform == "linux" and not {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"} & set(
    os.environ
):
    try:
        _libc = ctypes.CDLL("libc.so.6")
        _libc.mallopt(_M_MMAP_THRESHOLD, _KEEP_FREED_BYTES)
        _libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_FREED_BYTES)
        APPLIED_ENV["MALLOC_MMAP_THRESHOLD_"] = str(_KEEP_FREED_BYTES)
        APPLIED_ENV["MALLOC_TRIM_THRESHOLD_"] = str(_KEEP_FREED_BYTES)
    except (OSError, AttributeError):  # not glibc (musl, ...): keep its defaults
        pass

__version__ = "0.1.0"
