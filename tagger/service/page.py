"""The page at ``GET /``: one static HTML file (tagger/service/page.html) that labels pasted text
through ``POST /annotate``, and the headers it is served with."""

import base64
import hashlib
import json
import re
from functools import cache
from importlib.resources import files


@cache
def page() -> tuple[str, dict[str, str]]:
    """The page's HTML and its headers: a Content-Security-Policy that allows only the page's own
    inline script and style (by hash) and requests to this service, so the page can never load or
    send anything elsewhere."""
    from tagger.data.html import ENTITY_COLOURS

    html = files("tagger.service").joinpath("page.html").read_text(encoding="utf-8")
    html = html.replace("/*ENTITY_COLOURS*/{}", json.dumps(ENTITY_COLOURS))  # one colour table for the page and annotate's HTML
    policy = (f"default-src 'none'; script-src {_hashes(html, 'script')}; style-src {_hashes(html, 'style')}; "
              "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    return html, {"Content-Security-Policy": policy, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def _hashes(html: str, tag: str) -> str:
    """CSP sources for each inline ``<tag>`` block (tags without attributes) of ``html``."""
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.DOTALL)
    return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()}'" for block in blocks) or "'none'"
