"""Fuzzing the running explorer: hypothesis generates bad requests (bytes that are no JSON
object, missing fields, wrong types, out-of-range beams, over-long or empty texts, unknown
models, malformed gold links), each sent to `attnlab serve` over HTTP. Every one must get a 4xx
with a one-line {"error"}, and the server must still answer a good request afterwards."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

httpx = pytest.importorskip("httpx")

pytestmark = pytest.mark.slow

GOOD = {"text": "w1 w2 w3", "model": "gru", "beam": 2, "n_best": 1}
GOOD_ALIGN = {"text": "w1 w2 w3", "reference": "w3 w2", "model": "gru"}
MODELS = {"transformer", "gru", "fixed"}
N_REQUESTS = 150


def _not_a_json_object(raw: bytes) -> bool:
    try:
        return not isinstance(json.loads(raw.decode("utf-8")), dict)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return True


not_int = st.one_of(st.floats(), st.text(max_size=5), st.booleans(), st.lists(st.integers()))
not_str = st.one_of(st.integers(), st.floats(), st.booleans(), st.lists(st.text(max_size=3)))
bad_bodies = st.one_of(
    st.binary(max_size=200).filter(_not_a_json_object),
    st.one_of(st.lists(st.integers()), st.integers(), st.text(max_size=20)).map(json.dumps),
)


def _with(base: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    return {**base, key: value}


def _without(base: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in base.items() if k != key}


bad_translate = st.one_of(
    st.sampled_from(["text", "model"]).map(lambda key: _without(GOOD, key)),
    not_str.map(lambda v: _with(GOOD, "text", v)),
    st.text(min_size=1001, max_size=1300).map(lambda v: _with(GOOD, "text", v)),
    st.text(alphabet=" \t\n", max_size=20).map(lambda v: _with(GOOD, "text", v)),
    st.text(max_size=30).filter(lambda v: v not in MODELS).map(lambda v: _with(GOOD, "model", v)),
    st.one_of(st.integers(max_value=0), st.integers(min_value=17)).map(
        lambda v: _with(GOOD, "beam", v)
    ),
    not_int.map(lambda v: _with(GOOD, "beam", v)),
    st.one_of(st.integers(max_value=0), st.integers(min_value=3)).map(
        lambda v: _with(GOOD, "n_best", v)
    ),
)
bad_align = st.one_of(
    st.sampled_from(["text", "reference", "model"]).map(lambda key: _without(GOOD_ALIGN, key)),
    not_str.map(lambda v: _with(GOOD_ALIGN, "reference", v)),
    st.text(max_size=20).map(lambda v: _with(GOOD_ALIGN, "gold", f"{v} x-1")),
    st.tuples(st.integers(3, 10**6), st.integers(0, 10**6)).map(
        lambda ij: _with(GOOD_ALIGN, "gold", f"{ij[0]}-{ij[1]}")
    ),
)
requests = st.one_of(
    st.tuples(st.sampled_from(["/api/translate", "/api/align"]), bad_bodies),
    st.tuples(st.just("/api/translate"), bad_translate.map(json.dumps)),
    st.tuples(st.just("/api/align"), bad_align.map(json.dumps)),
)


def test_generated_bad_requests_all_get_a_4xx_with_one_line_and_the_server_lives(
    server: str,
) -> None:
    sent: list[int] = []
    with httpx.Client(base_url=server, timeout=60) as client:

        @settings(
            max_examples=N_REQUESTS,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(requests)
        def one_bad_request(request: tuple[str, str | bytes]) -> None:
            path, body = request
            response = client.post(path, content=body)
            sent.append(response.status_code)
            assert 400 <= response.status_code < 500, (body, response.text)
            error = response.json()["error"]
            assert isinstance(error, str) and error and "\n" not in error
            assert "Traceback" not in response.text

        one_bad_request()
        assert len(sent) >= 100
        assert client.get("/api/models").status_code == 200
        answer = client.post("/api/translate", json=GOOD)
        assert answer.status_code == 200 and answer.json()["source_tokens"] == ["w1", "w2", "w3"]
