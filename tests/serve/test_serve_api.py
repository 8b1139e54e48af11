"""The explorer's JSON API through FastAPI's TestClient: the contract's fields and shapes, the
attention read back equal to the search's own, AER against gold links, and every bad request a
4xx with a one-line {"error"}."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from attnlab.config import Config
from attnlab.translate import Translator
from tests.conftest import CliResult, assert_one_line_error

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient

from attnlab.serve.app import STATIC, create_app
from attnlab.serve.explorer import languages, load_models

SENTENCE = "w3 w1 w4 w1 w5"


@pytest.fixture(scope="module")
def client(explorer_ckpts: dict[str, Path]) -> Iterator[TestClient]:
    with TestClient(create_app(load_models(list(explorer_ckpts.values()), "cpu"))) as test_client:
        yield test_client


def post(client: TestClient, path: str, **body: object) -> dict:
    response = client.post(path, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_models_lists_every_checkpoint_with_the_contract_fields(
    client: TestClient, explorer_ckpts: dict[str, Path]
) -> None:
    listed = client.get("/api/models").json()
    assert [m["id"] for m in listed] == ["transformer", "gru", "fixed"]
    keys = {"id", "name", "architecture", "parameters", "source_language", "target_language"}
    assert all(set(m) == keys for m in listed)
    model = Translator.from_checkpoint(explorer_ckpts["gru"], "cpu").model
    assert listed[1]["parameters"] == sum(p.numel() for p in model.parameters())
    assert listed[0]["architecture"].startswith("Transformer, 2 layers, 2 heads")
    assert listed[2]["name"] == str(explorer_ckpts["fixed"])


def test_languages_come_from_the_data_folder_name() -> None:
    assert languages(Config.model_validate({"data": {"dir": "data/bible-en-fr"}})) == ("en", "fr")
    assert languages(Config.model_validate({"data": {"dir": "data/nt-grc-en"}})) == ("grc", "en")
    assert languages(Config.model_validate({"data": {"dir": "data/reverse"}})) == (None, None)


@pytest.mark.parametrize("model", ["transformer", "gru"])
def test_greedy_attention_is_the_searchs_own_and_rows_sum_to_one(
    client: TestClient, explorer_ckpts: dict[str, Path], model: str
) -> None:
    answer = post(client, "/api/translate", text=SENTENCE, model=model, beam=1, n_best=1)
    expected = Translator.from_checkpoint(explorer_ckpts[model], "cpu").translate([SENTENCE], 1)[0]
    assert answer["source_tokens"] == SENTENCE.split()
    assert answer["translations"][0]["text"] == expected.text
    assert answer["translations"][0]["tokens"] == expected.trg_tokens
    attention = torch.tensor(answer["attention"])
    assert expected.trg_tokens and attention.shape == (len(expected.trg_tokens), 5)
    # teacher forcing on the greedy output reads what the search read (the </s> row aside)
    torch.testing.assert_close(attention, expected.attention[:-1], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(attention.sum(dim=1), torch.ones(len(attention)))
    assert answer["context"] == "attention"


def test_transformer_gives_every_layer_and_head_and_their_mean_is_the_attention(
    client: TestClient, explorer_ckpts: dict[str, Path]
) -> None:
    answer = post(client, "/api/translate", text=SENTENCE, model="transformer", beam=4, n_best=3)
    n_trg = len(answer["translations"][0]["tokens"])
    assert n_trg > 0
    layers = torch.tensor(answer["layers"])
    assert layers.shape == (2, 2, n_trg, 5)  # (L, heads, T, S)
    torch.testing.assert_close(layers[-1].mean(dim=0), torch.tensor(answer["attention"]))
    translator = Translator.from_checkpoint(explorer_ckpts["transformer"], "cpu")
    expected = translator.translate([SENTENCE], beam_size=4, n_best=3)[0].nbest
    assert [(t["text"], t["score"]) for t in answer["translations"]] == expected
    assert [t["tokens"] for t in answer["translations"]] == [t.split() for t, _ in expected]


def test_fixed_context_model_has_no_attention(client: TestClient) -> None:
    answer = post(client, "/api/translate", text=SENTENCE, model="fixed", beam=2, n_best=2)
    assert answer["attention"] is None and answer["context"] == "fixed"
    assert "layers" not in answer and len(answer["translations"]) == 2


def test_align_forces_the_reference_and_scores_gold_links(client: TestClient) -> None:
    reference = "w5 w1 w4 w1"
    answer = post(client, "/api/align", text=SENTENCE, reference=reference, model="transformer")
    attention = torch.tensor(answer["attention"])
    assert answer["target_tokens"] == reference.split() and attention.shape == (4, 5)
    assert "aer" not in answer
    argmax = attention.argmax(dim=1).tolist()
    # gold = the attention's own argmax links: AER 0; gold missing every one of them: AER 1
    same = " ".join(f"{i}-{j}" for j, i in enumerate(argmax))
    answer = post(
        client, "/api/align", text=SENTENCE, reference=reference, model="transformer", gold=same
    )
    assert answer["aer"] == 0.0
    assert sorted(answer["gold"]) == sorted([j, i, "sure"] for j, i in enumerate(argmax))
    other = " ".join(f"{(i + 1) % 5}-{j}" for j, i in enumerate(argmax))
    answer = post(
        client, "/api/align", text=SENTENCE, reference=reference, model="transformer", gold=other
    )
    assert answer["aer"] == 1.0
    # possible links only: |A ∩ S| = 0, |S| = 0, so AER = 1 - |A ∩ P| / |A| = 1 - 1/4
    one = f"{argmax[0]}?0"
    answer = post(
        client, "/api/align", text=SENTENCE, reference=reference, model="transformer", gold=one
    )
    assert answer["aer"] == pytest.approx(0.75)
    assert answer["gold"] == [[0, argmax[0], "possible"]]


def test_align_with_a_fixed_context_model_has_no_aer(client: TestClient) -> None:
    answer = post(client, "/api/align", text="w1 w2", reference="w2 w1", model="fixed", gold="0-1")
    assert answer["attention"] is None and answer["aer"] is None


BAD_REQUESTS = [
    ({"model": "transformer"}, 400, "text: missing"),
    ({"text": SENTENCE}, 400, "model: missing"),
    ({"text": SENTENCE, "model": "nope"}, 404, "model: unknown id 'nope'"),
    ({"text": SENTENCE, "model": "transformer", "beam": 0}, 400, "beam: must be between 1 and 16"),
    ({"text": SENTENCE, "model": "transformer", "beam": 17}, 400, "beam: must be between 1 and 16"),
    ({"text": SENTENCE, "model": "transformer", "beam": "3"}, 400, "beam: expected an integer"),
    ({"text": SENTENCE, "model": "transformer", "beam": True}, 400, "beam: expected an integer"),
    ({"text": SENTENCE, "model": "gru", "beam": 2, "n_best": 3}, 400, "n_best: must be between"),
    ({"text": "x" * 1001, "model": "gru"}, 413, "text: 1001 characters, more than 1000"),
    ({"text": "w1 " * 201, "model": "gru"}, 413, "text: 201 tokens, more than 200"),
    ({"text": "w1 " * 30, "model": "transformer"}, 413, "text: 30 tokens, more than 24"),
    ({"text": "  ", "model": "gru"}, 400, "text: empty"),
    ({"text": 5, "model": "gru"}, 400, "text: expected a string, got int"),
    ({"text": "w1 \ud800", "model": "gru"}, 400, "text: not valid Unicode"),
]


@pytest.mark.parametrize(("body", "status", "message"), BAD_REQUESTS)
def test_bad_translate_requests_get_a_4xx_and_one_line(
    client: TestClient, body: dict, status: int, message: str
) -> None:
    response = client.post("/api/translate", content=json.dumps(body))  # ASCII, \ud800 escaped
    assert response.status_code == status
    assert message in response.json()["error"] and "\n" not in response.json()["error"]


BAD_ALIGN = [
    ({"text": SENTENCE, "model": "gru"}, 400, "reference: missing"),
    ({"text": SENTENCE, "reference": "w1", "model": "gru", "gold": "0-x"}, 400, "gold: bad link"),
    ({"text": SENTENCE, "reference": "w1", "model": "gru", "gold": "5-0"}, 400, "outside 5 source"),
    ({"text": SENTENCE, "reference": "w1", "model": "gru", "gold": [1]}, 400, "gold: expected"),
    ({"text": "w1", "reference": "w1 " * 24, "model": "transformer"}, 413, "more than 23"),
]


@pytest.mark.parametrize(("body", "status", "message"), BAD_ALIGN)
def test_bad_align_requests_get_a_4xx_and_one_line(
    client: TestClient, body: dict, status: int, message: str
) -> None:
    response = client.post("/api/align", json=body)
    assert response.status_code == status
    assert message in response.json()["error"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"text": "\xff\xfe", "model": "gru"}', "body: invalid UTF-8 (byte 10)"),
        (b"{not json", "body: not JSON"),
        (b"[1, 2]", "body: expected a JSON object, got list"),
        (b"[" * 60_000, "body: not JSON"),
        (b" " * 70_000, "body: more than 65536 bytes"),
    ],
)
def test_bodies_that_are_not_a_utf8_json_object_get_400(
    client: TestClient, raw: bytes, message: str
) -> None:
    response = client.post("/api/translate", content=raw)
    assert response.status_code in (400, 413)
    assert response.json()["error"].startswith(message)


def test_unknown_routes_and_methods_answer_json_errors(client: TestClient) -> None:
    assert client.get("/api/nothing").status_code == 404
    assert client.get("/api/nothing").json() == {"error": "Not Found"}
    assert client.get("/api/translate").status_code == 405


def test_the_page_and_its_scripts_are_served_from_the_package_with_no_outside_address(
    client: TestClient,
) -> None:
    page = client.get("/")
    assert page.status_code == 200 and '<script type="module" src="/static/app.js">' in page.text
    for name in ("app.js", "heatmap.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200
    for path in STATIC.iterdir():  # no CDN: nothing is fetched from elsewhere
        assert "http://" not in path.read_text() and "https://" not in path.read_text(), path


def test_serve_without_the_extra_names_it_in_one_line(
    explorer_ckpts: dict[str, Path],
    cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn now raises ImportError
    result = cli("serve", explorer_ckpts["gru"])
    assert_one_line_error(result, "attnlab[serve]", "uvicorn")


def test_serve_on_a_port_in_use_is_a_one_line_error(
    explorer_ckpts: dict[str, Path], cli: Callable[..., CliResult]
) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("serve", explorer_ckpts["gru"], "--port", port)
    assert_one_line_error(result, "--port", f"cannot listen on 127.0.0.1:{port}")
