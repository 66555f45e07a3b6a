"""The HTTP service (tagger/service.py): endpoints, micro-batching, limits, the token check, and
schemathesis against the OpenAPI schema."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

import schemathesis
from schemathesis.checks import not_a_server_error
from tagger.predict import Tagger
from tagger.service import Limits, create_app

ROOT = Path(__file__).resolve().parents[1]
TEXTS = ["Maria Lopez moved to Chicago.", "The Red Cross sent help 🙂 to Denver\tyesterday.\r\n", "   ", ""]


@pytest.fixture(scope="module")
def tagger(trained_tiny_model: Path) -> Tagger:
    return Tagger.load(trained_tiny_model)


@pytest.fixture
def client(trained_tiny_model: Path):
    with TestClient(create_app(trained_tiny_model, limits=Limits(max_texts=5, max_chars=200, max_tokens=20, max_body_bytes=4000), token="")) as c:
        yield c


def test_annotate_equals_the_tagger_for_text_and_tokens(client: TestClient, tagger: Tagger) -> None:
    items = [*TEXTS, ["Pre", "-", "tokenized", "."]]
    response = client.post("/annotate", json={"texts": items})
    assert response.status_code == 200, response.text
    expected = [p.to_dict() for p in tagger.predict(items)]
    assert response.json()["results"] == expected
    first = response.json()["results"][0]
    assert all(TEXTS[0][a:b] == t for t, (a, b) in zip(first["tokens"], first["offsets"]))


def test_annotate_selects_tasks_and_gives_scores(client: TestClient) -> None:
    result = client.post("/annotate", json={"texts": [TEXTS[0]], "tasks": ["upos"], "scores": True}).json()["results"][0]
    assert set(result["tags"]) == {"upos"} and set(result["scores"]) == {"upos"} and result["spans"] == {}
    assert all(0 < p <= 1 for p in result["scores"]["upos"])
    response = client.post("/annotate", json={"texts": ["Hi"], "tasks": ["lemma"]})
    assert response.status_code == 422 and "lemma" in response.json()["detail"]


def test_health_info_and_docs(client: TestClient, trained_tiny_model: Path) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    info = client.get("/info").json()
    assert set(info["tasks"]) == {"upos", "ner"} and info["tasks"]["ner"]["spans"] is True
    assert info["model"] == trained_tiny_model.name and str(trained_tiny_model.parent) not in str(info)
    assert client.get("/openapi.json").json()["paths"].keys() >= {"/annotate", "/fill-mask", "/health", "/info"}


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"texts": []}, 422, "texts"),
        ({"texts": ["a"] * 6}, 422, "at most 5"),
        ({"texts": ["x" * 201]}, 422, "200"),
        ({"texts": [["w"] * 21]}, 422, "tokens"),
        ({"texts": [["ok", " "]]}, 422, "non-empty"),
        ({"texts": "not a list"}, 422, ""),
        ({"texts": ["y" * 3000, "y" * 3000]}, 413, "bytes"),
    ],
)
def test_limits_answer_with_clear_4xx(client: TestClient, body: dict, status: int, words: str) -> None:
    response = client.post("/annotate", json=body)
    assert response.status_code == status, response.text
    assert words in str(response.json()["detail"])


def test_malformed_json_is_422(client: TestClient) -> None:
    response = client.post("/annotate", content=b'{"texts": [', headers={"content-type": "application/json"})
    assert response.status_code == 422


def test_bearer_token_on_every_endpoint_but_health(trained_tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIRNN_TAGGER_TOKEN", "s3cret")
    with TestClient(create_app(trained_tiny_model)) as client:
        assert client.get("/health").status_code == 200
        for method, path, body in (("GET", "/info", None), ("POST", "/annotate", {"texts": ["Hi"]}), ("POST", "/fill-mask", {"texts": ["[MASK]"]})):
            assert client.request(method, path, json=body).status_code == 401
            assert client.request(method, path, json=body, headers={"Authorization": "Bearer nope"}).status_code == 401
        good = {"Authorization": "Bearer s3cret"}
        assert client.post("/annotate", json={"texts": ["Hi"]}, headers=good).status_code == 200


def test_fill_mask_only_with_a_head(client: TestClient, tmp_path: Path) -> None:
    response = client.post("/fill-mask", json={"texts": ["I am [MASK] ."]})
    assert response.status_code == 404 and "masked-token head" in response.json()["detail"]

    from conftest import tiny_config_dict
    from tagger.config import from_dict
    from tagger.training import train

    config = tiny_config_dict()
    config["masked_lm"] = {"weight": 0.5}
    config["training"]["max_epochs"] = 2
    train(from_dict(config), tmp_path / "mlm")
    with TestClient(create_app(tmp_path / "mlm")) as with_head:
        result = with_head.post("/fill-mask", json={"texts": ["We hired [MASK] to move us ."], "top_k": 3}).json()["results"][0]
    assert result["blanks"][0]["position"] == 2 and len(result["blanks"][0]["candidates"]) == 3


def test_concurrent_requests_are_micro_batched(trained_tiny_model: Path, tagger: Tagger) -> None:
    app = create_app(trained_tiny_model, max_wait_ms=50)
    texts = [f"Maria Lopez number {i} moved to Chicago." for i in range(20)]

    async def scenario() -> list[dict]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                responses = await asyncio.gather(*(client.post("/annotate", json={"texts": [t]}) for t in texts))
                return [r.json()["results"][0] for r in responses], app.state.batcher.batches_run

    results, batches = asyncio.run(scenario())
    assert batches < len(texts)  # merged into fewer model calls than requests
    assert [r["tokens"] for r in results] == [p.tokens for p in tagger.predict(texts)]  # each got its own


def test_serve_py_help_runs() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "serve.py"), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--model" in done.stdout and "127.0.0.1" in done.stdout


def test_no_server_errors_anywhere_in_the_api(trained_tiny_model: Path) -> None:
    """schemathesis generates requests for every operation of the OpenAPI schema; none may get a 5xx."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(trained_tiny_model, token=""))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/annotate", "/fill-mask", "/health", "/info"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
        def no_server_error(case) -> None:  # noqa: ANN001 - a schemathesis Case
            case.call_and_validate(checks=[not_a_server_error])

        no_server_error()
