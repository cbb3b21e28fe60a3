"""The gateway's REST API as the benches use it: setting up customers, and reading back what
was stored (a message counts only once `GET /inbox/v2/messages` lists it)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import aiohttp

from bench.harness import TOKEN

#: the largest page the API serves
PAGE = 100


class ApiError(RuntimeError):
    pass


class Api:
    """`/inbox/v2` of one gateway, with the bench's token."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str) -> None:
        self.http = http
        self.base = base_url.rstrip("/") + "/inbox/v2"
        self.headers = {"Authorization": f"Bearer {TOKEN}"}

    async def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        async with self.http.get(self.base + path, params=params, headers=self.headers) as r:
            body = await r.json()
            if r.status != 200:
                raise ApiError(f"GET {path} {params}: {r.status} {body}")
            return body

    async def post(
        self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> Any:
        async with self.http.post(
            self.base + path, json=body, headers={**self.headers, **(headers or {})}
        ) as r:
            answer = await r.json()
            if r.status != 200:
                raise ApiError(f"POST {path}: {r.status} {answer}")
            return answer

    # -- set-up -------------------------------------------------------------------------------

    async def create_contact(self, channel_id: str, address: str) -> str:
        body = {"identities": [{"channelId": channel_id, "address": address}]}
        return str((await self.post("/contacts", body))["contact"]["id"])

    async def create_conversation(self, contact_id: str) -> str:
        body = {"participantId": {"contactId": contact_id}}
        return str((await self.post("/conversations", body))["conversation"]["id"])

    async def send_text(self, conversation_id: str, text: str) -> dict[str, Any]:
        """sendMessage with one text item; the stored message, PENDING."""
        body = {
            "conversationId": conversation_id,
            "message": {"content": {"basic": {"items": [{"text": text}]}}},
        }
        message: dict[str, Any] = (await self.post("/messages", body))["message"]
        return message

    # -- reading back -------------------------------------------------------------------------

    async def conversations(self) -> list[dict[str, Any]]:
        """Every conversation, newest activity first."""
        found: list[dict[str, Any]] = []
        params = {"paging.limit": str(PAGE)}
        while True:
            page = await self.get("/conversations", params)
            found += page["conversations"]
            cursor = page["pagingMetadata"].get("cursors", {}).get("next")
            if not cursor:
                return found
            params = {"paging.limit": str(PAGE), "paging.cursor": cursor}

    async def messages(self, conversation_id: str) -> list[dict[str, Any]]:
        """Every message of a conversation, internal notes included, oldest first."""
        query = {
            "conversationId": conversation_id,
            "visibility": "BUSINESS",
            "paging.limit": str(PAGE),
            "sorting.order": "ASC",
        }
        found: list[dict[str, Any]] = []
        params = dict(query)
        while True:
            page = await self.get("/messages", params)
            found += page["messages"]
            cursor = page["pagingMetadata"].get("cursors", {}).get("next")
            if not cursor:
                return found
            params = {**query, "paging.cursor": cursor}

    async def latest(self, conversation_id: str) -> list[dict[str, Any]]:
        """The newest page of a conversation's messages."""
        params = {
            "conversationId": conversation_id,
            "visibility": "BUSINESS",
            "paging.limit": str(PAGE),
            "sorting.order": "DESC",
        }
        return list((await self.get("/messages", params))["messages"])

    async def every_message(
        self, conversation_ids: Iterable[str] | None = None, concurrency: int = 8
    ) -> list[dict[str, Any]]:
        """Every message of the given conversations (default: all of them)."""
        if conversation_ids is None:
            conversation_ids = [c["id"] for c in await self.conversations()]
        gate = asyncio.Semaphore(concurrency)

        async def one(conversation_id: str) -> list[dict[str, Any]]:
            async with gate:
                return await self.messages(conversation_id)

        pages = await asyncio.gather(*(one(c) for c in conversation_ids))
        return [m for page in pages for m in page]


def text_of(message: dict[str, Any]) -> str:
    """The text of a message's first item ("" for other content)."""
    items = message.get("content", {}).get("basic", {}).get("items", [])
    return str(items[0].get("text", "")) if items else ""
