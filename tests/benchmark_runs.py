"""What the tests of the benchmark scripts share: running one, a small slice of the embedded
Bible, and whether JoeyNMT 2.3 can be installed here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT / "benchmarks"))  # the scripts import their siblings by name

import joeynmt_side  # noqa: E402


def joeynmt_installable(folder: Path) -> bool:
    """The script's venv exists already, or JoeyNMT's wheel can be fetched (the CI reaches PyPI)."""
    if (ROOT / "bench-out" / "joey-venv" / "bin" / "python").exists():
        return True
    probe = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(folder)]
    done = subprocess.run([*probe, joeynmt_side.JOEYNMT], capture_output=True, check=False)
    return done.returncode == 0


def make_bible_slice(data: Path, train: int) -> None:
    """The embedded bible-en-fr in `data`, cut to its first `train` training pairs and 40 dev
    and 40 test pairs: a small, fast slice."""
    subprocess.run(
        [sys.executable, "-m", "attnlab", "data", "make", "bible-en-fr", "--out", str(data)],
        check=True,
        capture_output=True,
    )
    for name, keep in (("train", train), ("dev", 40), ("test", 40)):
        for ext in ("src", "trg"):
            path = data / f"{name}.{ext}"
            lines = path.read_text(encoding="utf-8").splitlines()[:keep]
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def run_benchmark(script: str, args: list[str], out_json: Path) -> dict:
    """benchmarks/SCRIPT with `args` and --json OUT_JSON; asserts it succeeds -> its JSON."""
    command = [sys.executable, str(ROOT / "benchmarks" / script), *args, "--json", str(out_json)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(out_json.read_text(encoding="utf-8"))
