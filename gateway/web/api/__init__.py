"""The REST API `/inbox/v2` (SPEC section 4), mounted as its own sub-application."""

from __future__ import annotations

from aiohttp import web

from gateway.web.api import contacts, conversations, messages, openapi
from gateway.web.api.auth import auth_middleware
from gateway.web.api.errors import error_middleware

PREFIX = "/inbox/v2"


def build_api() -> web.Application:
    """The API's routes behind its own error and auth middlewares."""
    api = web.Application(middlewares=[error_middleware, auth_middleware])
    api.router.add_get("/openapi.json", openapi.serve)
    api.router.add_post("/conversations", conversations.create_conversation)
    api.router.add_get("/conversations", conversations.list_conversations, allow_head=False)
    api.router.add_get("/conversations/{id}", conversations.get_conversation, allow_head=False)
    api.router.add_post("/messages", messages.send)
    api.router.add_get("/messages", messages.list_messages, allow_head=False)
    api.router.add_get("/messages/{id}", messages.get_message, allow_head=False)
    api.router.add_post("/contacts", contacts.create_contact)
    api.router.add_get("/contacts/{id}", contacts.get_contact, allow_head=False)
    api.router.add_post("/contacts/{id}/merge", contacts.merge_contacts)
    return api


def setup(app: web.Application) -> None:
    """Mount the REST API under /inbox/v2."""
    app.add_subapp(PREFIX, build_api())
