"""`attnlab serve CKPT [CKPT ...]`: the attention explorer, a local web page over a JSON API.

The page (static/: plain HTML, CSS and JavaScript modules, no build step, nothing fetched from
elsewhere) types a sentence into one or two loaded models and draws their attention; the API
(app.py: GET /api/models, POST /api/translate, POST /api/align) computes it (explorer.py).
FastAPI and uvicorn are the optional extra `attnlab[serve]`, imported only here.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from attnlab.errors import UserError


def serve(paths: list[Path], host: str, port: int) -> None:
    """Load the checkpoints and serve the explorer on http://host:port until interrupted."""
    try:
        import uvicorn

        from attnlab.serve.app import create_app
    except ImportError as exc:
        raise UserError(
            "serve",
            f"needs fastapi and uvicorn ({exc.name} is missing): pip install 'attnlab[serve]'",
        ) from None
    from attnlab.serve.explorer import load_models

    _check_port(host, port)
    models = load_models(paths)
    where = "this machine only" if host in ("127.0.0.1", "localhost", "::1") else "the network"
    sys.stderr.write(
        f"attnlab serve: {len(models)} model(s) on http://{host}:{port}/ "
        f"(bound to {host}: reachable from {where}; --host to change)\n"
    )
    uvicorn.run(create_app(models), host=host, port=port, log_level="warning")


def _check_port(host: str, port: int) -> None:
    """Fail in one line, before loading models, when the address cannot be listened on."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise UserError(
            "--port", f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None
