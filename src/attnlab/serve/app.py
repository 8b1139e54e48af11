"""The explorer's HTTP side (FastAPI): the page, its static files and the JSON API.

    GET  /             the page
    GET  /api/models   [{"id", "name", "architecture", "parameters", "source_language",
                         "target_language"}]
    POST /api/translate  {"text", "model", "beam", "n_best"} -> see explorer.translate
    POST /api/align      {"text", "reference", "model", "gold"?} -> see explorer.align

Every error is a 4xx (5xx only for a fault of ours) with {"error": "<one line>"}, never a
traceback. Bodies are read as bytes and checked here (size, UTF-8, JSON object) so that each
problem gets its own message. Models run one request at a time (a lock): the tiny CPU models
are fast, and torch's own threads do the parallel work.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from attnlab.serve import explorer
from attnlab.serve.explorer import LoadedModel, RequestError

STATIC = Path(__file__).with_name("static")
MAX_BODY = 64 * 1024  # bytes; the longest valid request is a few kilobytes


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": " ".join(message.split())}, status_code=status)


async def _json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; anything else is a RequestError."""
    body = b""
    async for chunk in request.stream():  # stop reading at the limit
        body += chunk
        if len(body) > MAX_BODY:
            raise RequestError(413, f"body: more than {MAX_BODY} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(400, f"body: invalid UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        message = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        raise RequestError(400, f"body: not JSON ({message})") from None
    if not isinstance(value, dict):
        raise RequestError(400, f"body: expected a JSON object, got {type(value).__name__}")
    return value


def create_app(models: list[LoadedModel]) -> FastAPI:
    """The app serving `models` (ids unique)."""
    app = FastAPI(title="attnlab explorer", docs_url=None, redoc_url=None, openapi_url=None)
    by_id = {m.id: m for m in models}
    lock = threading.Lock()

    def locked(work: Callable[..., dict[str, Any]], request: dict[str, Any]) -> dict[str, Any]:
        with lock:
            return work(request, by_id)

    @app.exception_handler(RequestError)
    async def bad_request(_: Request, exc: RequestError) -> JSONResponse:
        return _error(exc.status, exc.message)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        sys.stderr.write(f"attnlab serve: {request.url.path}: {type(exc).__name__}: {exc}\n")
        return _error(500, f"internal error ({type(exc).__name__}); see the server's log")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/api/models")
    def list_models() -> list[dict[str, Any]]:
        return [m.info() for m in models]

    @app.post("/api/translate")
    async def translate(request: Request) -> dict[str, Any]:
        return await run_in_threadpool(locked, explorer.translate, await _json_object(request))

    @app.post("/api/align")
    async def align(request: Request) -> dict[str, Any]:
        return await run_in_threadpool(locked, explorer.align, await _json_object(request))

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
