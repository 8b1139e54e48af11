"""Tiny trained models for the explorer's tests, and `attnlab serve` running on them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tiny_models import train_tiny


@pytest.fixture(scope="session")
def explorer_ckpts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A Transformer, a GRU with Bahdanau attention and a fixed-context GRU. The tests check
    shapes, invariants and equalities, which hold for any weights, but need translations that
    are not empty: the Transformer trains 80 steps, the GRUs 30 (a few-step model, whose output
    layer starts at the unigram distribution, says only </s>)."""
    root = tmp_path_factory.mktemp("explorer")
    return {
        "transformer": train_tiny(root, "transformer", 80, ["model.type=transformer"]),
        "gru": train_tiny(root, "gru", 30, ["model.type=rnn", "model.context=bahdanau"]),
        "fixed": train_tiny(root, "fixed", 30, ["model.type=rnn", "model.context=fixed"]),
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def server(
    explorer_ckpts: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`attnlab serve` on the tiny models in a subprocess; yields its base URL."""
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "serve.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "attnlab", "serve", *map(str, explorer_ckpts.values())]
    with log.open("w") as out:
        process = subprocess.Popen(
            [*command, "--port", str(port)], stdout=out, stderr=subprocess.STDOUT, env=env
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # importing torch on a busy machine
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"attnlab serve did not start: {log.read_text()}") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
