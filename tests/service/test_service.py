"""The HTTP service (tagger/service/): endpoints, micro-batching, limits, the token check, the options of
serve.py and `tagger serve`, and schemathesis against the app's OpenAPI schema."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from tagger.model.predict import Tagger
from tagger.service import create_app

ROOT = Path(__file__).resolve().parents[2]
TEXTS = ["Maria Lopez moved to Chicago.", "The Red Cross sent help 🙂 to Denver\tyesterday.\r\n", " x ", "x" * 150]
SMALL = {"max_texts": 5, "max_chars": 200, "max_tokens": 20, "max_body_bytes": 4000, "token": ""}


@pytest.fixture(scope="module")
def tagger(trained_tiny_model: Path) -> Tagger:
    return Tagger.load(trained_tiny_model)


@pytest.fixture(scope="module")
def client(tagger: Tagger, trained_tiny_model: Path) -> Iterator[TestClient]:
    """An app with small limits, built from the model directory."""
    with TestClient(create_app(trained_tiny_model, **SMALL)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def masked_lm_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model with a masked-token head (a few seconds of training)."""
    from conftest import tiny_config_dict

    from tagger.core.config import from_dict
    from tagger.training import train

    config = tiny_config_dict()
    config["masked_lm"] = {"weight": 0.5}
    config["training"]["max_epochs"] = 2
    directory = tmp_path_factory.mktemp("mlm-model")
    train(from_dict(config), directory)
    return directory


def _without_scores(record: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if key != "scores"}


def test_annotate_equals_the_tagger_for_text_and_tokens(client: TestClient, tagger: Tagger) -> None:
    token_lists = [["Pre", "-", "tokenized", "🙂", "y" * 60], ["Maria", "Lopez", "moved", "to", "Chicago", "."]]
    for batch in (TEXTS, token_lists, [TEXTS[0], token_lists[1]]):
        response = client.post("/annotate", json={"texts": batch})
        assert response.status_code == 200, response.text
        assert response.json()["results"] == [p.to_dict() for p in tagger.predict(batch)]
    first = client.post("/annotate", json={"texts": [TEXTS[0]]}).json()["results"][0]
    assert all(TEXTS[0][a:b] == token for token, (a, b) in zip(first["tokens"], first["offsets"]))
    assert "scores" not in first


def test_annotate_selects_tasks_and_gives_scores(client: TestClient, tagger: Tagger) -> None:
    result = client.post("/annotate", json={"texts": [TEXTS[0]], "tasks": ["upos"], "scores": True}).json()["results"][0]
    assert set(result["tags"]) == {"upos"} and set(result["scores"]) == {"upos"} and result["spans"] == {}
    expected = tagger.predict(TEXTS[0], scores=True)
    assert result["tags"]["upos"] == expected.tags["upos"]
    assert result["scores"]["upos"] == pytest.approx(expected.scores["upos"])
    ner = client.post("/annotate", json={"texts": [TEXTS[0]], "tasks": ["ner"]}).json()["results"][0]
    assert set(ner["tags"]) == set(ner["spans"]) == {"ner"}
    response = client.post("/annotate", json={"texts": ["Hi"], "tasks": ["upos", "lemma"]})
    assert response.status_code == 422 and "'lemma'" in response.text and "upos, ner" in response.text


def test_health_info_docs(client: TestClient, trained_tiny_model: Path, tagger: Tagger) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    info = client.get("/info").json()
    assert info["model"] == trained_tiny_model.name and str(trained_tiny_model.parent) not in str(info)
    assert info["tasks"]["upos"]["labels"] == tagger.vocab.labels["upos"].items and info["tasks"]["ner"]["spans"] is True
    assert info["lang"] == "en" and info["fill_mask"] is False and "dev" in info["scores"] and "torch" in info["versions"]
    assert info["limits"]["max_texts"] == 5
    schema = client.get("/openapi.json").json()
    assert schema["paths"].keys() >= {"/annotate", "/fill-mask", "/health", "/info"}
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"texts": []}, "at least 1"),
        ({"texts": ["a"] * 6}, "at most 5"),
        ({"texts": ["x" * 201]}, "at most 200 characters"),
        ({"texts": [["w"] * 21]}, "at most 20"),
        ({"texts": [["x" * 150, "y" * 60]]}, "200 characters"),
        ({"texts": [3]}, "string or a list of token strings"),
        ({"texts": "not a list"}, "list"),
        ({"texts": ["a"], "top_k": 3}, "Extra inputs"),
        ({}, "Field required"),
        # One rule with tagger annotate: nothing to label is refused, and scores is true or false.
        ({"texts": ["ok", "   "]}, "empty text: nothing to label"),
        ({"texts": [""]}, "empty text: nothing to label"),
        ({"texts": [[]]}, "at least 1 item"),
        ({"texts": [["a", ""]]}, "at least 1 character"),
        ({"texts": [["a", " "]]}, "is empty or only whitespace"),  # as Tagger.predict: no output format could write it back
        ({"texts": [["a\tb"]]}, "holds a tab or a line break"),
        ({"texts": ["a"], "scores": "yes"}, "valid boolean"),
        ({"texts": ["a"], "scores": 1}, "valid boolean"),
        # A list that asks for nothing, or names a task twice, is a mistake: refused, naming the field.
        ({"texts": ["a"], "tasks": []}, "name at least one task"),
        ({"texts": ["a"], "tasks": ["upos", "ner", "upos"]}, "'upos' named more than once"),
    ],
)
def test_limits_and_bad_bodies_are_422(client: TestClient, body: dict, words: str) -> None:
    response = client.post("/annotate", json=body)
    assert response.status_code == 422, response.text
    assert words in response.text
    if "tasks" in body:
        assert [error["loc"] for error in response.json()["detail"]] == [["body", "tasks"]]


def test_body_size_is_413(client: TestClient) -> None:
    response = client.post("/annotate", json={"texts": ["y" * 190] * 5 + ["z" * 3500]})  # 413 before validation
    assert response.status_code == 413 and "4000 bytes" in response.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"texts": ["'
        yield b"y" * 5000
        yield b'"]}'

    response = client.post("/annotate", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


@pytest.mark.parametrize("body", [b'{"texts": [', b"", b"\xff\xfe", b'{"texts": ["\\ud800"]}', b"[1, 2]"])
def test_malformed_json_is_422(client: TestClient, body: bytes) -> None:
    response = client.post("/annotate", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text


def test_bearer_token_on_every_endpoint_but_health(trained_tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIRNN_TAGGER_TOKEN", "s3cret")
    with TestClient(create_app(trained_tiny_model)) as client:
        assert client.get("/health").status_code == 200
        calls = [("GET", "/info", None), ("POST", "/annotate", {"texts": ["Hi"]}), ("POST", "/fill-mask", {"texts": ["[MASK]"]}),
                 ("GET", "/openapi.json", None)]
        for method, path, body in calls:
            for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic s3cret"}, {"Authorization": "Bearer s3cret2"}):
                response = client.request(method, path, json=body, headers=headers)
                assert response.status_code == 401 and "bearer token" in response.json()["detail"], (path, headers)
        good = {"Authorization": "Bearer s3cret"}
        assert client.post("/annotate", json={"texts": ["Hi"]}, headers=good).status_code == 200
        assert client.get("/info", headers=good).status_code == 200
    with TestClient(create_app(trained_tiny_model, token="")) as client:  # an explicit empty token: no check
        assert client.get("/info").status_code == 200


def test_fill_mask_without_a_head_is_a_clear_404(client: TestClient) -> None:
    response = client.post("/fill-mask", json={"texts": ["I am [MASK] ."]})
    assert response.status_code == 404 and "masked-token head" in response.json()["detail"]


def test_fill_mask_with_a_head(masked_lm_model: Path) -> None:
    tagger = Tagger.load(masked_lm_model)
    with TestClient(create_app(tagger, token="", max_blanks=3)) as client:
        texts = ["We hired [MASK] to move us .", ["a", "[MASK]", "[MASK]"], "no blanks 🙂"]
        response = client.post("/fill-mask", json={"texts": texts, "top_k": 3})
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert results == [f.to_dict() for f in tagger.fill_mask(texts, top_k=3)]
        assert results[0]["blanks"][0]["position"] == 2 and len(results[0]["blanks"][0]["candidates"]) == 3
        assert [b["position"] for b in results[1]["blanks"]] == [1, 2] and results[2]["blanks"] == []
        assert client.get("/info").json()["fill_mask"] is True
        assert client.post("/fill-mask", json={"texts": ["[MASK]" * 4]}).status_code == 422  # max_blanks
        assert client.post("/fill-mask", json={"texts": ["a [MASK]"], "top_k": 0}).status_code == 422


@pytest.mark.parametrize("max_wait_ms", [0.0, 50.0])
def test_concurrent_requests_are_micro_batched(max_wait_ms: float, tagger: Tagger) -> None:
    app = create_app(tagger, max_wait_ms=max_wait_ms, token="")
    requests = [[f"Maria Lopez number {i} moved to Chicago."] + [f"Extra text {j} 🙂 in Paris" for j in range(i % 3)] for i in range(20)]

    async def scenario() -> list[httpx.Response]:
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
                return await asyncio.gather(*(client.post("/annotate", json={"texts": texts, "scores": i % 2 == 0})
                                              for i, texts in enumerate(requests)))

    responses = asyncio.run(scenario())
    batcher = app.state.batcher
    assert batcher.texts_run == sum(map(len, requests))
    assert 1 <= batcher.batches_run < len(requests)  # merged into fewer model calls than requests
    for i, (texts, response) in enumerate(zip(requests, responses)):
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        expected = [p.to_dict() for p in tagger.predict(texts, scores=True)]
        assert [_without_scores(r) for r in results] == [_without_scores(e) for e in expected]  # its own, in order
        assert all(("scores" in r) == (i % 2 == 0) for r in results)


def test_max_batch_caps_a_batch(tagger: Tagger) -> None:
    app = create_app(tagger, max_batch=4, max_wait_ms=50, token="")

    async def scenario() -> list[httpx.Response]:
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
                return await asyncio.gather(*(client.post("/annotate", json={"texts": [f"Text {i}", "b"]}) for i in range(6)))

    responses = asyncio.run(scenario())
    assert all(r.status_code == 200 and r.json()["results"][0]["tokens"] == ["Text", str(i)] for i, r in enumerate(responses))
    assert app.state.batcher.batches_run >= 3  # 12 texts, at most 4 per model call


def test_serve_py_help_runs() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "serve.py"), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--model" in done.stdout and "127.0.0.1" in done.stdout
    assert "--max-queued" in done.stdout and "--request-timeout" in done.stdout


def test_without_the_lifespan_requests_still_work(tagger: Tagger) -> None:
    client = TestClient(create_app(tagger, token=""))  # no `with`: no batcher worker, direct model calls
    assert client.post("/annotate", json={"texts": ["Hi there"]}).json()["results"][0]["tokens"] == ["Hi", "there"]


@pytest.mark.parametrize("with_head", [False, True], ids=["plain", "masked-lm"])
def test_no_server_errors_anywhere_in_the_api(with_head: bool, tagger: Tagger, request: pytest.FixtureRequest) -> None:
    """schemathesis generates requests for every operation of the OpenAPI schema; none may get a 5xx."""
    import schemathesis
    from schemathesis.checks import not_a_server_error
    from schemathesis.generation.modes import GenerationMode
    from schemathesis.python.asgi import shutdown_lifespans

    model = request.getfixturevalue("masked_lm_model") if with_head else tagger
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(model, token="", max_chars=2000))
    try:
        operations = [result.ok() for result in schema.get_all_operations()]
        assert {op.path for op in operations} == {"/annotate", "/fill-mask", "/health", "/info"}
        modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]  # valid bodies, and invalid ones (for 4xx)
        for operation, mode in ((op, mode) for op in operations for mode in modes if op.method.upper() == "POST" or mode.is_positive):

            @given(case=operation.as_strategy(mode))
            @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def no_server_error(case: Any) -> None:
                case.call_and_validate(checks=[not_a_server_error])

            no_server_error()
    finally:
        shutdown_lifespans()


# ---------------------------------------------------------------------------------------------
# Overload: the bounded queue and the time limit. A gate holds the model so that the tests decide
# when it works, instead of racing a clock.


class Gate:
    """Holds every model call until opened; records the texts of each call as it starts."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self._open = threading.Event()

    def hold(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def held(texts: Sequence[Any], *args: Any, **kwargs: Any) -> Any:
            self.calls.append(len(texts))
            assert self._open.wait(10), "the gate was never opened"
            return function(texts, *args, **kwargs)

        return held

    def open(self) -> None:
        self._open.set()

    def close(self) -> None:
        self._open.clear()


@pytest.fixture
def gate() -> Iterator[Gate]:
    held = Gate()
    yield held
    held.open()  # never leave the model thread waiting


@asynccontextmanager
async def _serving(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            yield client


async def _until(condition: Callable[[], bool]) -> None:
    """Let the event loop run until ``condition()`` holds (at most 5 s)."""
    for _ in range(5000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the service never reached the expected state")


def _is_busy(response: httpx.Response, limit: str) -> bool:
    return (response.status_code == 503 and response.headers.get("retry-after") == "1"
            and limit in response.json()["detail"])


def test_a_full_queue_is_503_at_once_while_earlier_requests_succeed(masked_lm_model: Path, gate: Gate) -> None:
    tagger = Tagger.load(masked_lm_model)
    first, second = ["Maria Lopez moved to Chicago.", "Hi there"], ["The Red Cross sent help."]
    expected = [[p.to_dict() for p in tagger.predict(texts)] for texts in (first, second)]
    tagger.predict_sentences, tagger.fill_mask = gate.hold(tagger.predict_sentences), gate.hold(tagger.fill_mask)
    app = create_app(tagger, token="", max_batch=2, max_queued=3, request_timeout_s=0)
    batcher = app.state.batcher

    async def scenario() -> None:
        async with _serving(app) as client:
            running = asyncio.create_task(client.post("/annotate", json={"texts": first}))
            await _until(lambda: gate.calls == [2])
            waiting = asyncio.create_task(client.post("/annotate", json={"texts": second}))
            await _until(lambda: batcher.texts_pending == 3)
            assert _is_busy(await client.post("/annotate", json={"texts": ["One more"]}), "max_queued")
            assert _is_busy(await client.post("/fill-mask", json={"texts": ["I [MASK] ."]}), "max_queued")
            gate.open()
            assert [(await request).json()["results"] for request in (running, waiting)] == expected
            assert batcher.texts_pending == 0 and batcher.requests_refused == 2 and batcher.texts_run == 3

            gate.close()  # fill-mask texts in flight count as well
            masked = asyncio.create_task(client.post("/fill-mask", json={"texts": ["a [MASK] b", "[MASK]", "c"]}))
            await _until(lambda: gate.calls == [2, 1, 2])  # its first piece (max_batch texts)
            assert _is_busy(await client.post("/annotate", json={"texts": ["Busy"]}), "max_queued")
            gate.open()
            response = await masked
            assert response.status_code == 200 and len(response.json()["results"]) == 3
            big = await client.post("/annotate", json={"texts": ["a", "b", "c", "d", "e"]})  # more than max_queued, alone
            assert big.status_code == 200 and len(big.json()["results"]) == 5

    asyncio.run(scenario())
    assert app.state.batcher.requests_timed_out == 0


def test_a_timed_out_request_is_503_and_its_queued_job_never_runs(masked_lm_model: Path, gate: Gate) -> None:
    tagger = Tagger.load(masked_lm_model)
    tagger.predict_sentences, tagger.fill_mask = gate.hold(tagger.predict_sentences), gate.hold(tagger.fill_mask)
    app = create_app(tagger, token="", request_timeout_s=0.5)
    batcher = app.state.batcher

    async def scenario() -> None:
        async with _serving(app) as client:
            running = asyncio.create_task(client.post("/annotate", json={"texts": ["Labelled for nobody"]}))
            await _until(lambda: gate.calls == [1])
            queued = [asyncio.create_task(client.post("/annotate", json={"texts": ["Never", "labelled"]})),
                      asyncio.create_task(client.post("/fill-mask", json={"texts": ["Never [MASK] ."]}))]
            for response in await asyncio.gather(running, *queued):  # the model is still held: all time out
                assert _is_busy(response, "request_timeout_s"), response.text
            assert batcher.jobs_waiting == 0 and batcher.texts_pending == 0
            gate.open()
            await _until(lambda: batcher.batches_run == 1)
            batcher.request_timeout_s = None  # however slow the machine, the next request must get through
            response = await client.post("/annotate", json={"texts": ["After the gate"]})
            assert response.status_code == 200 and response.json()["results"][0]["tokens"] == ["After", "the", "gate"]

    asyncio.run(scenario())
    assert gate.calls == [1, 1]  # the queued jobs were dropped, never run
    assert (batcher.batches_run, batcher.texts_run, batcher.requests_timed_out) == (2, 2, 3)


def test_a_timeout_during_labelling_leaves_the_rest_of_the_batch_alone(tagger: Tagger, gate: Gate,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    expected = [p.to_dict() for p in tagger.predict(["Maria Lopez moved to Chicago."])]
    monkeypatch.setattr(tagger, "predict_sentences", gate.hold(tagger.predict_sentences))
    app = create_app(tagger, token="", max_batch=2, max_wait_ms=10_000, request_timeout_s=0)
    batcher = app.state.batcher

    async def scenario() -> None:
        async with _serving(app) as client:
            patient = asyncio.create_task(client.post("/annotate", json={"texts": ["Maria Lopez moved to Chicago."]}))
            await _until(lambda: batcher.texts_pending == 1 and batcher.jobs_waiting == 0)  # in the batch being gathered
            batcher.request_timeout_s = 0.5  # for the next request only
            hasty = asyncio.create_task(client.post("/annotate", json={"texts": ["In a hurry"]}))
            await _until(lambda: gate.calls == [2])  # it fills the batch, which starts at once
            batcher.request_timeout_s = None
            assert _is_busy(await hasty, "request_timeout_s")
            assert not patient.done()
            gate.open()
            response = await patient
            assert response.status_code == 200 and response.json()["results"] == expected

    asyncio.run(scenario())
    assert (batcher.batches_run, batcher.texts_run, batcher.requests_timed_out) == (1, 2, 1)


@pytest.mark.parametrize("timeout", [0, None])
def test_no_time_limit_when_disabled(timeout: float | None, tagger: Tagger, gate: Gate, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tagger, "predict_sentences", gate.hold(tagger.predict_sentences))
    app = create_app(tagger, token="", request_timeout_s=timeout)

    async def scenario() -> None:
        async with _serving(app) as client:
            assert (await client.get("/info")).json()["limits"]["request_timeout_s"] is None
            request = asyncio.create_task(client.post("/annotate", json={"texts": ["Take your time"]}))
            await _until(lambda: gate.calls == [1])
            await asyncio.sleep(0.1)  # a zero timeout taken literally would have answered by now
            assert not request.done()
            gate.open()
            response = await request
            assert response.status_code == 200 and response.json()["results"][0]["tokens"] == ["Take", "your", "time"]

    asyncio.run(scenario())


def test_queue_and_time_limits_defaults_and_checks(tagger: Tagger, client: TestClient) -> None:
    limits = client.get("/info").json()["limits"]
    assert limits["max_queued_per_client"] == 4 * 256 and limits["request_timeout_s"] == 30  # SMALL: 5 texts per request
    assert limits["max_queued"] == 4 * limits["max_queued_per_client"]  # one client alone never fills the queue
    one = create_app(tagger, token="", max_batch=1).state.batcher
    assert (one.max_queued_per_client, one.max_queued) == (1000, 4000)  # never less than max_texts
    for bad in ({"max_queued": 0}, {"request_timeout_s": -1}, {"max_queued_per_client": 0}):
        with pytest.raises(ValueError, match="must be (at least 1|0 or more), got"):
            create_app(tagger, token="", **bad)
    bare = TestClient(create_app(tagger, token="", max_queued=1, request_timeout_s=5))  # no lifespan: limits still apply
    assert bare.post("/annotate", json={"texts": ["a", "b"]}).status_code == 200


def test_tagger_serve_has_the_options() -> None:
    from typer.testing import CliRunner

    from tagger.cli import app

    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "--max-queued" in result.output and "--request-timeout" in result.output


def test_a_large_request_takes_turns_so_a_small_one_waits_about_one_piece(tagger: Tagger, gate: Gate,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    big = [f"Maria Lopez number {i} moved to Chicago." for i in range(10)]
    expected_big, expected_small = [p.to_dict() for p in tagger.predict(big)], [p.to_dict() for p in tagger.predict(["Hi there"])]
    monkeypatch.setattr(tagger, "predict_sentences", gate.hold(tagger.predict_sentences))
    app = create_app(tagger, token="", max_batch=2, request_timeout_s=0)
    finished: list[str] = []

    async def post(name: str, texts: list[str]) -> Any:
        response = await client_box[0].post("/annotate", json={"texts": texts})
        finished.append(name)
        return response

    client_box: list[Any] = []

    async def scenario() -> None:
        async with _serving(app) as client:
            client_box.append(client)
            large = asyncio.create_task(post("large", big))
            await _until(lambda: gate.calls == [2])  # its first piece is being labelled
            small = asyncio.create_task(post("small", ["Hi there"]))
            await _until(lambda: app.state.batcher.jobs_waiting == 2)
            gate.open()
            large_response, small_response = await asyncio.gather(large, small)
            assert large_response.json()["results"] == expected_big and small_response.json()["results"] == expected_small

    asyncio.run(scenario())
    assert finished == ["small", "large"]
    assert gate.calls == [2, 2, 1, 2, 2, 2]  # one more piece of the large request, then the small one


# ---------------------------------------------------------------------------------------------
# One option set: serve.py and `tagger serve` both build theirs from tagger.service.settings.


def _serve_py() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("serve_py", ROOT / "serve.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_serve_py_and_tagger_serve_offer_the_same_options() -> None:
    import typer.main
    from rich.markup import escape

    from tagger.cli import app
    from tagger.core.config import options_of
    from tagger.core.runtime import RunOptions
    from tagger.service.settings import ServiceSettings

    options = [*options_of(ServiceSettings), *options_of(RunOptions)]
    expected = {option.flag: (option.name, option.default) for option in options}
    assert expected.keys() >= {"--host", "--port", "--max-batch", "--max-wait-ms", "--max-texts", "--max-chars", "--max-body-bytes",
                               "--max-queued", "--request-timeout", "--device", "--precision", "--threads", "--batch-size"}
    assert {name for name, _ in expected.values()} == (set(ServiceSettings.__dataclass_fields__) - {"run"}) | set(RunOptions.__dataclass_fields__)
    actions = [action for action in _serve_py().argument_parser()._actions if action.dest not in ("help", "model")]
    assert {action.option_strings[0]: (action.dest, action.default) for action in actions} == expected
    command = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    params = [param for param in command.params if param.opts[0].startswith("--")]
    assert {param.opts[0]: (param.name, param.default) for param in params} == expected
    assert [param.help for param in params] == [escape(o.help) for o in options]
    assert [action.help for action in actions] == [f"{o.help} (default: {o.shown or o.default})" for o in options]


def test_both_command_lines_hand_their_options_to_the_app(trained_tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from tagger.cli import app
    from tagger.service.settings import ServiceSettings

    served: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda application, **where: served.append((application.state.settings, where)))
    options = ["--port", "8123", "--max-batch", "8", "--max-texts", "7", "--max-tokens", "30", "--max-blanks", "2",
               "--max-queued", "9", "--request-timeout", "0", "--max-wait-ms", "1.5"]
    _serve_py().main(["--model", str(trained_tiny_model), *options])
    result = CliRunner().invoke(app, ["serve", str(trained_tiny_model), *options])
    assert result.exit_code == 0, result.output
    expected = ServiceSettings(port=8123, max_batch=8, max_texts=7, max_tokens=30, max_blanks=2, max_queued=9, request_timeout_s=0.0,
                               max_wait_ms=1.5)
    assert [settings for settings, _ in served] == [expected] * 2
    for _, where in served:
        assert (where["host"], where["port"], where["limit_concurrency"], where["lifespan"]) == ("127.0.0.1", 8123, 512, "on")
        assert where["http"].header_timeout_s == 10
    for command in (["serve", str(trained_tiny_model), "--max-texts", "0"], ["serve", str(trained_tiny_model), "--precision", "fp16"]):
        result = CliRunner().invoke(app, command, env={"COLUMNS": "200"})
        assert result.exit_code == 2 and command[2] in result.output, result.output


# ---------------------------------------------------------------------------------------------
# Clients take turns: one client's large or numerous requests delay another's small one by about a
# piece, and fill its own queue, not the others'.


def _client_at(app: Any, host: str) -> httpx.AsyncClient:
    """A client of ``app`` (its lifespan already running) from peer address ``host``."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(host, 4321)), base_url="http://test")


def test_clients_take_turns_so_a_flood_delays_another_client_by_about_one_piece(tagger: Tagger, gate: Gate,
                                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tagger, "predict_sentences", gate.hold(tagger.predict_sentences))
    app = create_app(tagger, token="", max_batch=2, request_timeout_s=0)
    batcher = app.state.batcher
    flood = [[f"Flood {i} text {j}" for j in range(4)] for i in range(3)]

    async def scenario() -> None:
        async with app.router.lifespan_context(app), _client_at(app, "10.0.0.1") as flooder, _client_at(app, "10.0.0.2") as other:
            first = asyncio.create_task(flooder.post("/annotate", json={"texts": flood[0]}))
            await _until(lambda: gate.calls == [2])  # the flood's first piece is being labelled
            more = [asyncio.create_task(flooder.post("/annotate", json={"texts": texts})) for texts in flood[1:]]
            await _until(lambda: batcher.jobs_waiting == 3)
            small = asyncio.create_task(other.post("/annotate", json={"texts": ["Hi there"]}))
            await _until(lambda: batcher.jobs_waiting == 4)
            gate.open()
            assert (await small).json()["results"][0]["tokens"] == ["Hi", "there"]
            assert all(response.status_code == 200 for response in await asyncio.gather(first, *more))

    asyncio.run(scenario())
    # One more piece of the flood (its client's turn came first), then the small request; served
    # request by request instead, it waited for a piece of each of the flood's three requests.
    assert gate.calls[:3] == [2, 2, 1] and sorted(gate.calls) == [1] + [2] * 6


class Turnstile:
    """Lets model calls through one permit at a time; records the texts of each call as it starts."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self._permits = threading.Semaphore(0)

    def hold(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def held(texts: Sequence[Any], *args: Any, **kwargs: Any) -> Any:
            self.calls.append(len(texts))
            assert self._permits.acquire(timeout=10), "no permit came"
            return function(texts, *args, **kwargs)

        return held

    def release(self, calls: int = 1) -> None:
        for _ in range(calls):
            self._permits.release()


def test_small_requests_behind_a_large_one_in_turn_join_the_next_batch(tagger: Tagger, monkeypatch: pytest.MonkeyPatch) -> None:
    turnstile = Turnstile()
    monkeypatch.setattr(tagger, "predict_sentences", turnstile.hold(tagger.predict_sentences))
    app = create_app(tagger, token="", max_batch=4, request_timeout_s=0)
    batcher = app.state.batcher

    async def scenario() -> None:
        async with (app.router.lifespan_context(app), _client_at(app, "10.0.0.1") as large, _client_at(app, "10.0.0.2") as b,
                    _client_at(app, "10.0.0.3") as c):
            try:
                requests = [asyncio.create_task(large.post("/annotate", json={"texts": [f"Large {i}" for i in range(12)]}))]
                await _until(lambda: turnstile.calls == [4])
                requests.append(asyncio.create_task(b.post("/annotate", json={"texts": ["From b"]})))
                await _until(lambda: batcher.jobs_waiting == 2)  # turns: the large request's client, then b
                turnstile.release()
                await _until(lambda: turnstile.calls == [4, 4])  # the large request's second piece; turns: b, then it
                requests.append(asyncio.create_task(c.post("/annotate", json={"texts": ["From c"]})))
                await _until(lambda: batcher.jobs_waiting == 3)  # turns: b, the large request, c
            finally:
                turnstile.release(10)
            assert all(response.status_code == 200 for response in await asyncio.gather(*requests))

    asyncio.run(scenario())
    assert turnstile.calls == [4, 4, 2, 4]  # b and c together, c skipping the large request that does not fit


def test_a_flooding_client_fills_its_own_queue_not_the_others(tagger: Tagger, gate: Gate, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tagger, "predict_sentences", gate.hold(tagger.predict_sentences))
    app = create_app(tagger, token="", max_batch=2, max_texts=10, request_timeout_s=0)  # defaults: 10 texts per client, 40 in all
    batcher = app.state.batcher
    full = [f"Text {i}" for i in range(10)]

    async def scenario() -> None:
        async with app.router.lifespan_context(app), _client_at(app, "10.0.0.1") as flooder, _client_at(app, "10.0.0.2") as other:
            first = asyncio.create_task(flooder.post("/annotate", json={"texts": full}))
            await _until(lambda: gate.calls == [2])
            assert _is_busy(await flooder.post("/annotate", json={"texts": ["One more"]}), "max_queued_per_client")
            # Refused before its body is parsed: sending on regardless costs the service little.
            garbage = await flooder.post("/annotate", content=b'{"texts": [not json', headers={"content-type": "application/json"})
            assert _is_busy(garbage, "max_queued_per_client") and garbage.headers["connection"] == "close"
            others = asyncio.create_task(other.post("/annotate", json={"texts": full}))  # as large, from another client
            await _until(lambda: batcher.texts_pending == 20)
            gate.open()
            assert (await first).status_code == 200 and (await others).status_code == 200
            assert (await flooder.post("/annotate", json={"texts": full})).status_code == 200  # its answers came: room again

    asyncio.run(scenario())
    assert batcher.requests_refused == 2


def test_fill_mask_past_its_time_stops_at_the_next_piece(masked_lm_model: Path, gate: Gate) -> None:
    tagger = Tagger.load(masked_lm_model)
    tagger.fill_mask = gate.hold(tagger.fill_mask)  # type: ignore[method-assign]
    app = create_app(tagger, token="", max_batch=1, request_timeout_s=0.5)
    batcher = app.state.batcher

    async def scenario() -> None:
        async with _serving(app) as client:
            texts = ["a [MASK] b", "[MASK] c", "d [MASK]"]
            assert _is_busy(await client.post("/fill-mask", json={"texts": texts}), "request_timeout_s")  # its first piece held
            gate.open()
            batcher.request_timeout_s = None
            response = await client.post("/annotate", json={"texts": ["After the gate"]})  # the model is free at once
            assert response.status_code == 200 and batcher.texts_pending == 0

    asyncio.run(scenario())
    assert gate.calls == [1]  # the pieces after the time limit never ran (one call of all three texts before)


# ---------------------------------------------------------------------------------------------
# Slow and hostile clients: bodies where none is taken, stalled bodies and headers, buffered bytes,
# connections. The uvicorn tests run it as serve.py does (tagger.service.server), in a thread.


def _guard(app: Any) -> Any:
    from tagger.service.guard import Guard

    layer = app.middleware_stack
    while not isinstance(layer, Guard):
        layer = layer.app
    return layer


@pytest.mark.parametrize(("method", "path"), [("GET", "/health"), ("POST", "/health"), ("GET", "/info"), ("GET", "/"),
                                              ("GET", "/annotate"), ("PUT", "/annotate"), ("POST", "/nowhere")])
def test_a_body_where_none_is_taken_is_413_before_it_is_read(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path, content=b"x" * 100)
    assert response.status_code == 413 and f"{method} {path} takes no request body" in response.json()["detail"]
    assert response.headers["connection"] == "close"
    sent: list[dict] = []

    async def receive() -> dict:
        raise AssertionError("the body was read")

    async def send(message: dict) -> None:
        sent.append(message)

    for headers in ([(b"content-length", b"10000000")], [(b"transfer-encoding", b"chunked")]):
        scope = {"type": "http", "http_version": "1.1", "method": method, "path": path, "raw_path": path.encode(), "root_path": "",
                 "scheme": "http", "query_string": b"", "headers": headers, "client": ("10.0.0.9", 1), "server": ("test", 80)}
        asyncio.run(client.app(scope, receive, send))
        assert sent[-2]["status"] == 413
    assert client.get("/health").status_code == 200  # no body: served as before


def test_bodies_being_received_share_max_buffered_bytes(tagger: Tagger) -> None:
    app = create_app(tagger, token="", max_chars=200_000, max_body_bytes=200_000, max_buffered_bytes=100_000, body_timeout_s=0)
    release = asyncio.Event()

    async def stalled() -> AsyncIterator[bytes]:
        yield b'{"texts": ["' + b"y" * 98_988
        await release.wait()
        yield b'"]}'

    async def scenario() -> None:
        async with _serving(app) as client:
            json_type = {"content-type": "application/json"}
            slow = asyncio.create_task(client.post("/annotate", content=stalled(), headers=json_type))
            await _until(lambda: app.middleware_stack is not None and _guard(app).buffered == 99_000)
            busy = await client.post("/annotate", json={"texts": ["z" * 70_000]})  # would pass 100,000 bytes with the stalled one's
            assert _is_busy(busy, "max_buffered_bytes") and busy.headers["connection"] == "close"
            small = await client.post("/annotate", json={"texts": ["z" * 1000]})  # passes it too, but a small body is always read
            assert small.status_code == 200
            release.set()
            assert (await slow).status_code == 200 and _guard(app).buffered == 0
            # One body alone is always read, even one larger than max_buffered_bytes.
            assert (await client.post("/annotate", json={"texts": ["z" * 150_000]})).status_code == 200

    asyncio.run(scenario())


@contextmanager
def _uvicorn(app: Any) -> Iterator[int]:
    """``app`` served on uvicorn with its settings' options (tagger.service.server), on a free port; the port."""
    import socket
    import time

    import uvicorn

    from tagger.service.server import uvicorn_options

    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, **uvicorn_options(app.state.settings), log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    try:
        for _ in range(1000):
            if server.started:
                break
            time.sleep(0.01)
        assert server.started, "uvicorn did not start"
        yield listening.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)
        listening.close()


def _exchange(port: int, *messages: bytes, wait: float = 10) -> tuple[bytes, bool]:
    """Send ``messages`` on one new connection (reading what came back after each), then read until
    the server closes it or ``wait`` seconds pass: all it sent, and whether it closed the connection."""
    import socket

    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as connection:
        for message in messages:
            connection.sendall(message)
            if message.endswith(b"\r\n\r\n"):  # a whole request: wait for its answer
                received += connection.recv(65536)
        try:
            while chunk := connection.recv(65536):
                received += chunk
        except TimeoutError:
            return received, False
    return received, True


@pytest.fixture(scope="module")
def timed_port(tagger: Tagger) -> Iterator[int]:
    """A service on uvicorn whose clients get half a second for their headers and for their body."""
    with _uvicorn(create_app(tagger, token="", header_timeout_s=0.5, body_timeout_s=0.5, max_body_bytes=4000)) as port:
        yield port


def test_headers_never_finished_are_408_and_closed(timed_port: int) -> None:
    answer, closed = _exchange(timed_port, b"GET /health HTTP/1.1\r\nHost: test\r\n")
    assert closed and answer.startswith(b"HTTP/1.1 408 ") and b"header_timeout_s" in answer
    assert _exchange(timed_port) == (b"", True)  # nothing sent at all: closed, nothing to answer
    answer, closed = _exchange(timed_port, b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n", b"GET /health HTTP/1.1\r\nHo")
    assert closed and answer.startswith(b"HTTP/1.1 200 ") and b"HTTP/1.1 408 " in answer  # the next request on a kept-alive connection


def test_a_stalled_body_is_408_and_closed(timed_port: int) -> None:
    head = b"POST /annotate HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    answer, closed = _exchange(timed_port, head[:-2], b'\r\n{"texts": ["a')
    assert closed and answer.startswith(b"HTTP/1.1 408 ") and b"body_timeout_s" in answer
    answer, closed = _exchange(timed_port, b"POST /annotate HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                                            b"Content-Length: 18\r\n\r\n" b'{"texts": ["Hi"]}\n')
    assert answer.startswith(b"HTTP/1.1 200 ") and b'"Hi"' in answer  # in time: served


def test_a_body_on_health_is_refused_at_once_not_read(timed_port: int) -> None:
    # Headers only: read, the body would be awaited and the answer a 408 (and bytes sent after the
    # answer would turn the close into a reset that can lose the answer).
    answer, closed = _exchange(timed_port, b"GET /health HTTP/1.1\r\nHost: test\r\nContent-Length: 10000000\r\n\r\n")
    assert closed and answer.startswith(b"HTTP/1.1 413 ") and b"takes no request body" in answer


def test_max_connections_caps_open_connections(tagger: Tagger) -> None:
    import socket

    with _uvicorn(create_app(tagger, token="", max_connections=3)) as port:
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        try:
            answer, closed = _exchange(port, b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
            assert answer.startswith(b"HTTP/1.1 503 ") and closed
        finally:
            for connection in idle:
                connection.close()


# ---------------------------------------------------------------------------------------------
# Starting: a model that cannot serve stops the service before it binds; an open service warns.


def test_a_model_that_loads_but_cannot_label_never_serves(trained_tiny_model: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from tagger.cli import app
    from tagger.core.errors import ModelFormatError

    def broken(self: Tagger, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("shape mismatch in the encoder")

    monkeypatch.setattr(Tagger, "predict_sentences", broken)
    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: served.append(args))
    with pytest.raises(ModelFormatError, match=f"{trained_tiny_model}: the model loads but fails on a one-line text"):
        create_app(trained_tiny_model)
    with pytest.raises(SystemExit) as exited:
        _serve_py().main(["--model", str(trained_tiny_model)])
    message = str(exited.value.code)
    assert message.startswith("error: ") and "shape mismatch" in message and "\n" not in message
    result = CliRunner().invoke(app, ["serve", str(trained_tiny_model)], env={"COLUMNS": "400"})
    assert result.exit_code == 1 and "error:" in result.output and "shape mismatch" in result.output
    assert served == []


@pytest.mark.parametrize(("host", "token_required", "warned"),
                         [("0.0.0.0", False, True), ("::", False, True), ("192.168.1.20", False, True), ("tagger.example.org", False, True),
                          ("0.0.0.0", True, False), ("127.0.0.1", False, False), ("127.0.0.2", False, False), ("::1", False, False),
                          ("localhost", False, False)])
def test_an_open_host_without_a_token_is_warned_about(host: str, token_required: bool, warned: bool) -> None:
    from tagger.service.settings import exposure_warning

    warning = exposure_warning(host, token_required)
    assert (warning is not None) == warned
    assert warning is None or (host in warning and "BIRNN_TAGGER_TOKEN" in warning)


def test_both_command_lines_warn_on_an_open_host_without_a_token(trained_tiny_model: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from tagger.cli import app

    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)
    monkeypatch.delenv("BIRNN_TAGGER_TOKEN", raising=False)
    _serve_py().main(["--model", str(trained_tiny_model), "--host", "0.0.0.0"])
    assert "warning: --host 0.0.0.0" in capsys.readouterr().err
    result = CliRunner().invoke(app, ["serve", str(trained_tiny_model), "--host", "0.0.0.0"], env={"COLUMNS": "400"})
    assert result.exit_code == 0 and "warning: --host 0.0.0.0" in result.output
    monkeypatch.setenv("BIRNN_TAGGER_TOKEN", "s3cret")
    _serve_py().main(["--model", str(trained_tiny_model), "--host", "0.0.0.0"])
    assert "warning" not in capsys.readouterr().err
