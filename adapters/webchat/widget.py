"""`GET widget.js`: the embeddable widget, with this channel's settings written in."""

from __future__ import annotations

import hashlib
import json
from importlib.resources import files

from channels import WebhookRequest, WebhookResponse

_PLACEHOLDER = "/*IG_CONFIG*/{}"


def widget_source(title: str) -> str:
    """The widget's JavaScript with the channel's defaults in place of the placeholder."""
    source = files("adapters.webchat").joinpath("static/widget.js").read_text("utf-8")
    # `<` escaped so the settings can never end a script element, wherever the JS lands.
    settings = json.dumps({"title": title}).replace("<", "\\u003c")
    return source.replace(_PLACEHOLDER, settings, 1)


class WidgetScript:
    """Serves the widget with an ETag, so browsers revalidate cheaply."""

    def __init__(self, title: str) -> None:
        self._body = widget_source(title).encode("utf-8")
        self._etag = '"' + hashlib.sha256(self._body).hexdigest()[:32] + '"'

    async def get(self, request: WebhookRequest) -> WebhookResponse:
        """`GET widget.js`."""
        headers = {
            "Cache-Control": "public, max-age=300",
            "ETag": self._etag,
            "Access-Control-Allow-Origin": "*",
            "X-Content-Type-Options": "nosniff",
        }
        if self._etag in (request.header("if-none-match") or ""):
            return WebhookResponse(status=304, headers=headers)
        return WebhookResponse(
            status=200,
            body=self._body,
            content_type="application/javascript; charset=utf-8",
            headers=headers,
        )
