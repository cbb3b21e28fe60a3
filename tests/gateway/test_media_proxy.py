"""Twilio MMS media reach the agents' page through the gateway, which adds the credentials."""

from __future__ import annotations

from aiohttp import ClientSession, CookieJar

from adapters.twilio.fake import FakeTwilio
from tests.gateway.conftest import LiveGateway, StartGateway
from tests.support.config import Agent, twilio_channel

PAGE = {"X-Requested-With": "inbox"}


async def start(start_gateway: StartGateway, twilio: FakeTwilio) -> LiveGateway:
    return await start_gateway(
        twilio_channel(fake=twilio), agents=[Agent.with_password("alice", "pw")]
    )


async def test_an_agent_sees_mms_media_that_needs_twilio_credentials(
    start_gateway: StartGateway, twilio: FakeTwilio
) -> None:
    live = await start(start_gateway, twilio)
    picture = twilio.add_media(b"\x89PNG-picture-bytes", "image/png")
    async with ClientSession(live.url, cookie_jar=CookieJar(unsafe=True)) as http:
        # Without the gateway, the media URL needs the account's credentials.
        async with http.get(picture) as direct:
            assert direct.status == 401
        query = {"channelId": "sms", "url": picture}
        async with http.get("/inbox/api/media", params=query, headers=PAGE) as anonymous:
            assert anonymous.status == 401
        login = {"username": "alice", "password": "pw"}
        async with http.post("/inbox/api/login", json=login, headers=PAGE) as response:
            assert response.status == 200
        async with http.get("/inbox/api/media", params=query, headers=PAGE) as response:
            assert response.status == 200
            assert await response.read() == b"\x89PNG-picture-bytes"
            assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_the_media_proxy_refuses_urls_on_other_hosts(
    start_gateway: StartGateway, twilio: FakeTwilio
) -> None:
    live = await start(start_gateway, twilio)
    async with ClientSession(live.url, cookie_jar=CookieJar(unsafe=True)) as http:
        login = {"username": "alice", "password": "pw"}
        async with http.post("/inbox/api/login", json=login, headers=PAGE) as response:
            assert response.status == 200
        for url in (f"{live.url}/healthz", "http://169.254.169.254/latest/meta-data/"):
            query = {"channelId": "sms", "url": url}
            async with http.get("/inbox/api/media", params=query, headers=PAGE) as response:
                assert response.status == 404
