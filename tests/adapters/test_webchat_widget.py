"""The embeddable widget as the gateway serves it (`GET widget.js`)."""

from __future__ import annotations

import shutil
import subprocess
from importlib.resources import files
from typing import Any, cast

import pytest

from adapters.webchat import WebchatAdapter, WebchatConfig
from channels.adapter import HttpHandler
from channels.testing import RecordingHost, json_request


def make_adapter(**overrides: Any) -> WebchatAdapter:
    settings: dict[str, Any] = {"type": "webchat", "allowed_origins": ["https://shop.example"]}
    settings.update(overrides)
    return WebchatAdapter("chat", WebchatConfig.model_validate(settings), RecordingHost())


async def get_widget(adapter: WebchatAdapter, headers: dict[str, str] | None = None) -> Any:
    route = next(r for r in adapter.routes() if r.method == "GET" and r.path == "widget.js")
    request = json_request("/channels/chat/widget.js", b"", method="GET", headers=headers)
    response = await cast(HttpHandler, route.handler)(request)
    return response


async def test_widget_is_served_as_cacheable_javascript() -> None:
    response = await get_widget(make_adapter())
    assert response.status == 200
    assert response.content_type.startswith("application/javascript")
    assert "max-age" in response.headers["Cache-Control"]
    body = response.body.decode()
    assert "ig-bubble" in body and "ig-panel" in body


async def test_an_unchanged_widget_revalidates_with_304() -> None:
    adapter = make_adapter()
    first = await get_widget(adapter)
    again = await get_widget(adapter, {"If-None-Match": first.headers["ETag"]})
    assert again.status == 304
    assert again.body in (b"", "")


async def test_the_configured_title_is_written_into_the_widget_safely() -> None:
    response = await get_widget(make_adapter(title="Ask </script><b>us</b>"))
    body = response.body.decode()
    assert "Ask \\u003c/script>\\u003cb>us\\u003c/b>" in body
    assert "</script><b>" not in body


def test_widget_never_inserts_html_strings() -> None:
    """Message text reaches the page through textContent only, so it cannot inject markup."""
    source = files("adapters.webchat").joinpath("static/widget.js").read_text("utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in source


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_widget_is_valid_javascript(tmp_path: Any) -> None:
    script = tmp_path / "widget.js"
    script.write_text(
        files("adapters.webchat").joinpath("static/widget.js").read_text("utf-8"), "utf-8"
    )
    result = subprocess.run(
        ["node", "--check", str(script)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
