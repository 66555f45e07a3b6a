"""The page at GET / (tagger/service/page.html): served without a token while /annotate still needs
one, and, in headless chromium through selenium against the real service on uvicorn, it shows a
text's entities and tags exactly as Tagger.predict gives them, and asks for the token when needed."""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tagger.model.predict import Tagger
from tagger.service import create_app

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")  # Debian's packages chromium and chromium-driver (.ci/run installs them)
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--window-size=1000,1100"]
TOKEN = "s3cret"
# The tiny model finds three entities here; the emoji (one code point, two UTF-16 units in JS) comes before two of them.
SENTENCE = "Maria Lopez 🙂 moved to Chicago. She works for the Red Cross."
# What the page shows, read in one call: the marks, the text without the labels, the table, the status line.
READ_PAGE = """
const marks = [...document.querySelectorAll('#entities mark.ent')].map(
    (m) => [m.querySelector('.ent-text').textContent, m.querySelector('.ent-label').textContent, m.dataset.label]);
const doc = document.querySelector('#entities .doc')?.cloneNode(true);
doc?.querySelectorAll('.ent-label').forEach((label) => label.remove());
return {marks, text: doc?.textContent, hidden: document.getElementById('results').hidden,
        header: [...document.querySelectorAll('#tokens thead th')].map((th) => th.textContent),
        rows: [...document.querySelectorAll('#tokens tbody tr')].map((tr) => [...tr.cells].map((td) => td.textContent))};
"""


@pytest.fixture(scope="module")
def tagger(trained_tiny_model: Path) -> Tagger:
    return Tagger.load(trained_tiny_model)


def test_the_page_needs_no_token_but_annotate_does(tagger: Tagger) -> None:
    with TestClient(create_app(tagger, token=TOKEN)) as client:
        page = client.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert '<textarea id="text"' in page.text and 'fetch("annotate"' in page.text
        assert not re.search(r"https?://|//cdn", page.text)  # nothing loaded or sent anywhere else
        from tagger.data.html import ENTITY_COLOURS

        assert f"const COLOURS = {json.dumps(ENTITY_COLOURS)};" in page.text  # the colours of annotate's HTML output
        policy = page.headers["content-security-policy"]
        assert "connect-src 'self'" in policy and "'sha256-" in policy and "unsafe-inline" not in policy
        assert client.post("/annotate", json={"texts": ["Hi"]}).status_code == 401
        good = {"Authorization": f"Bearer {TOKEN}"}
        assert client.post("/annotate", json={"texts": ["Hi"]}, headers=good).status_code == 200
        assert "/" not in client.get("/openapi.json", headers=good).json()["paths"]  # a page, not an API endpoint
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "service/page.html" in package_data["tagger"]  # so the page ships in the wheel


# ---------------------------------------------------------------------------------------------
# In a browser


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless chromium; skipped with the reason when selenium, chromium or chromedriver is missing."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')")
    from selenium.webdriver.chrome.service import Service

    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.is_file()]
    if missing:
        pytest.skip(f"no browser to drive: {', '.join(missing)} missing (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    # An explicit driver path: Selenium Manager never runs (it would try the network).
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """The app on uvicorn on a free localhost port, in a thread; its URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def label(browser: Any, text: str, token: str | None = None) -> tuple[str, str]:
    """Type ``text`` (and ``token`` when given) into the page, press Label; the status line's state and text."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    if token is not None:
        field = browser.find_element(By.ID, "token")
        field.clear()
        field.send_keys(token)
    area = browser.find_element(By.ID, "text")
    area.clear()
    # ChromeDriver types characters of the Basic Multilingual Plane only: the rest is pasted.
    typed = "".join(ch for ch in text if ord(ch) <= 0xFFFF)
    if typed == text:
        area.send_keys(text)
    else:
        browser.execute_script("arguments[0].value = arguments[1]", area, text)
    browser.find_element(By.ID, "submit").click()
    status = browser.find_element(By.ID, "status")
    WebDriverWait(browser, 10).until(lambda _: status.get_attribute("data-state") in ("done", "error"))
    return status.get_attribute("data-state"), status.text


def screenshot_path() -> Path:
    folder = Path(os.environ.get("TAGGER_ARTIFACTS") or ROOT / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "page.png"


def test_the_page_shows_the_entities_and_tags_the_tagger_gives(browser: Any, tagger: Tagger) -> None:
    expected = tagger.predict(SENTENCE)
    spans = expected.spans["ner"]
    assert spans, "the tiny model finds no entity in SENTENCE: pick a sentence where it does"
    with serving(create_app(tagger, token="")) as url:
        browser.get_log("browser")  # drop what earlier pages logged
        browser.get(url)
        state, message = label(browser, SENTENCE)
        assert state == "done", message
        shown = browser.execute_script(READ_PAGE)
        assert not [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]  # no CSP or script error
        browser.set_window_size(1000, browser.execute_script("return document.documentElement.scrollHeight") + 200)
        browser.save_screenshot(str(screenshot_path()))  # the whole page
    assert shown["marks"] == [[SENTENCE[s.start_char:s.end_char], s.label, s.label] for s in spans]
    assert shown["text"] == SENTENCE  # the text around the marks, unchanged
    assert shown["header"] == ["#", "Token", *expected.tags]
    assert shown["rows"] == [[str(i + 1), token, *(tags[i] for tags in expected.tags.values())] for i, token in enumerate(expected.tokens)]
    assert message == f"{len(expected.tokens)} tokens, {len(spans)} entities."


def test_the_page_asks_for_the_token_and_sends_it(browser: Any, tagger: Tagger) -> None:
    text = 'Maria Lopez moved to <b>Chicago</b> & "back".'  # markup in the text stays text
    with serving(create_app(tagger, token=TOKEN, max_chars=200)) as url:
        browser.get(url)  # the page itself needs no token
        state, message = label(browser, text)
        assert state == "error" and "needs a token (401)" in message
        assert browser.execute_script("return document.activeElement.id") == "token"  # where to type it
        assert browser.execute_script(READ_PAGE)["hidden"]
        state, message = label(browser, text, token="wrong")
        assert state == "error" and "refused this token (401)" in message
        state, message = label(browser, text, token=TOKEN)
        assert state == "done", message
        shown = browser.execute_script(READ_PAGE)
        assert not shown["hidden"] and shown["text"] == text and [m[:2] for m in shown["marks"]] == [
            [text[s.start_char:s.end_char], s.label] for s in tagger.predict(text).spans["ner"]]
        assert browser.execute_script("return document.querySelector('#results b')") is None
        assert browser.execute_script("return sessionStorage.getItem('birnn-tagger-token')") == TOKEN
        browser.refresh()  # kept for the tab
        assert browser.execute_script("return document.getElementById('token').value") == TOKEN
        state, message = label(browser, "x" * 201)  # the service's own message comes through
        assert state == "error" and "(422)" in message and "at most 200 characters" in message
