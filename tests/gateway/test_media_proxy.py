"""Twilio MMS media reach the agents' page through the gateway, which adds the credentials:
only for media URLs of a stored inbound message, only to the configured API host, and never
following a redirect to an internal address."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import ClientSession, CookieJar, web
from sqlmodel import col, select

from adapters.twilio.fake import FakeTwilio
from gateway.store.models import MessageRow
from gateway.web.inbox.media import MAX_BYTES, PublicResolver, is_public
from tests.gateway.conftest import LiveGateway, StartGateway
from tests.support.config import Agent, twilio_channel

PAGE = {"X-Requested-With": "inbox"}
ACCOUNT = "AC" + "a" * 32
AUTH_TOKEN = "provider-auth-token"
PICTURE = b"\x89PNG-picture-bytes"


def sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


@dataclass
class Host:
    """A loopback web server that records what it was asked, with the Authorization sent."""

    routes: dict[str, web.StreamResponse | None] = field(default_factory=dict)
    seen: list[tuple[str, str | None]] = field(default_factory=list)
    url: str = ""
    runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._answer)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.path, request.headers.get("Authorization")))
        found = self.routes.get(request.path)
        return found if found is not None else web.Response(text="secret of " + request.path)

    def media_url(self) -> str:
        """A URL of the exact form of Twilio's media URLs, on this host."""
        path = f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid('MM')}/Media/{sid('ME')}"
        return self.url + path


@pytest.fixture
async def provider() -> AsyncIterator[Host]:
    """The configured Twilio API host, answering as a test tells it to."""
    host = Host()
    await host.start()
    yield host
    assert host.runner is not None
    await host.runner.cleanup()


@pytest.fixture
async def internal() -> AsyncIterator[Host]:
    """An internal service on this machine that must never be reached through the proxy."""
    host = Host()
    await host.start()
    yield host
    assert host.runner is not None
    await host.runner.cleanup()


def redirect(location: str) -> web.Response:
    """A 302 to `location`, as a media host answers."""
    return web.Response(status=302, headers={"Location": location})


async def start(
    start_gateway: StartGateway, api_base_url: str, account: str = ACCOUNT
) -> LiveGateway:
    return await start_gateway(
        twilio_channel(account_sid=account, auth_token=AUTH_TOKEN, api_base_url=api_base_url),
        agents=[Agent.with_password("alice", "pw")],
    )


async def receive_mms(live: LiveGateway, *urls: str, account: str = ACCOUNT) -> str:
    """Post a signed inbound MMS carrying `urls`, as Twilio would; answers its message id."""
    twilio = FakeTwilio(account_sid=account, auth_token=AUTH_TOKEN)
    reply = await twilio.post_inbound(
        live.url + "/channels/sms/inbound",
        "+15550002222",
        "",
        [(url, "image/png") for url in urls],
    )
    assert reply.status == 200
    rows = await live.gateway.db.read(
        lambda s: list(
            s.exec(
                select(MessageRow).where(col(MessageRow.provider_message_id) == reply.message_sid)
            )
        )
    )
    return rows[0].id


async def agent_session(live: LiveGateway) -> ClientSession:
    http = ClientSession(live.url, cookie_jar=CookieJar(unsafe=True))
    login = {"username": "alice", "password": "pw"}
    async with http.post("/inbox/api/login", json=login, headers=PAGE) as response:
        assert response.status == 200
    return http


async def fetch(http: ClientSession, message_id: str, url: str, channel: str = "sms") -> int:
    query = {"channelId": channel, "messageId": message_id, "url": url}
    async with http.get("/inbox/api/media", params=query, headers=PAGE) as response:
        await response.read()
        return response.status


async def test_an_agent_sees_mms_media_that_needs_twilio_credentials(
    start_gateway: StartGateway,
) -> None:
    twilio = FakeTwilio(account_sid=ACCOUNT, auth_token=AUTH_TOKEN)
    await twilio.start()
    try:
        live = await start(start_gateway, twilio.base_url)
        picture = twilio.add_media(PICTURE, "image/png")
        message_id = await receive_mms(live, picture)
        async with ClientSession(live.url, cookie_jar=CookieJar(unsafe=True)) as anonymous:
            # Without the gateway, the media URL needs the account's credentials.
            async with anonymous.get(picture) as direct:
                assert direct.status == 401
            assert await fetch(anonymous, message_id, picture) == 401
        async with await agent_session(live) as http:
            query = {"channelId": "sms", "messageId": message_id, "url": picture}
            async with http.get("/inbox/api/media", params=query, headers=PAGE) as response:
                assert response.status == 200
                assert await response.read() == PICTURE
                assert response.headers["X-Content-Type-Options"] == "nosniff"
    finally:
        await twilio.stop()


async def test_only_media_urls_of_a_stored_inbound_message_are_fetched(
    start_gateway: StartGateway, provider: Host
) -> None:
    live = await start(start_gateway, provider.url)
    picture = provider.media_url()
    message_id = await receive_mms(live, picture)
    planted = provider.media_url()
    async with await agent_session(live) as http:
        refused = [
            # any other path on the API host, even with a real message
            (message_id, f"{provider.url}/2010-04-01/Accounts/{ACCOUNT}/Messages.json"),
            (message_id, f"{provider.url}/internal/admin"),
            # a media-shaped URL that no message carries
            (message_id, planted),
            # the right URL with another (or no) message
            ("no-such-message", picture),
            ("", picture),
            # media URLs on other hosts
            (message_id, f"{live.url}/healthz"),
            (message_id, "http://169.254.169.254/latest/meta-data/"),
            # the media form under another account
            (message_id, picture.replace(ACCOUNT, "AC" + "b" * 32)),
        ]
        for refused_id, url in refused:
            assert await fetch(http, refused_id, url) == 404, url
        assert await fetch(http, message_id, picture, channel="nope") == 404
        assert provider.seen == []
        assert await fetch(http, message_id, picture) == 200
    assert provider.seen == [(picture.removeprefix(provider.url), provider.seen[0][1])]
    assert (provider.seen[0][1] or "").startswith("Basic ")


async def test_a_query_the_database_cannot_keep_or_with_a_parameter_twice_is_a_400(
    start_gateway: StartGateway, provider: Host
) -> None:
    """The media link reads its query as the page's other endpoints do: a NUL character in
    the message id reached PostgreSQL there and answered 500, and of two URLs the first was
    fetched."""
    live = await start(start_gateway, provider.url)
    picture = provider.media_url()
    message_id = await receive_mms(live, picture)
    async with await agent_session(live) as http:
        assert await fetch(http, "a\x00b", picture) == 400
        params = [("channelId", "sms"), ("messageId", message_id), ("url", picture)]
        params.append(("url", provider.media_url()))
        async with http.get("/inbox/api/media", params=params, headers=PAGE) as response:
            assert response.status == 400
            assert (await response.json())["message"] == "url: given more than once; give it once"
        assert provider.seen == []
        assert await fetch(http, message_id, picture) == 200


async def test_a_business_messages_media_is_not_fetched(
    start_gateway: StartGateway, provider: Host
) -> None:
    live = await start(start_gateway, provider.url)
    inbound = await receive_mms(live, provider.media_url())
    picture = provider.media_url()
    row = await live.gateway.db.read(lambda s: s.get(MessageRow, inbound))
    assert row is not None
    async with ClientSession(live.url) as api:
        body = {
            "conversationId": row.conversation_id,
            "message": {"content": {"basic": {"items": [{"image": {"url": picture}}]}}},
        }
        async with api.post("/inbox/v2/messages", json=body, headers=live.auth) as sent:
            assert sent.status == 200
            message_id = (await sent.json())["message"]["id"]
    async with await agent_session(live) as http:
        assert await fetch(http, message_id, picture) == 404
    assert [path for path, _ in provider.seen if "Media" in path] == []


async def test_a_redirect_to_an_internal_address_is_not_followed(
    start_gateway: StartGateway, provider: Host, internal: Host
) -> None:
    live = await start(start_gateway, provider.url)
    targets = [
        f"{internal.url}/internal/secret",
        f"http://localhost:{internal.url.rsplit(':', 1)[1]}/internal/secret",
        "http://169.254.169.254/latest/meta-data/",
        "https://10.0.0.1/admin",
        "https://mms.twiliocdn.com.evil.example/x",
        "file:///etc/passwd",
    ]
    urls = []
    for target in targets:
        url = provider.media_url()
        provider.routes[url.removeprefix(provider.url)] = redirect(target)
        urls.append(url)
    message_id = await receive_mms(live, *urls)
    async with await agent_session(live) as http:
        for url in urls:
            assert await fetch(http, message_id, url) == 502
    assert internal.seen == []


async def test_a_redirect_within_the_api_host_is_followed_without_credentials(
    start_gateway: StartGateway, provider: Host
) -> None:
    live = await start(start_gateway, provider.url)
    url = provider.media_url()
    provider.routes[url.removeprefix(provider.url)] = redirect("/cdn/picture.png")
    provider.routes["/cdn/picture.png"] = web.Response(body=PICTURE, content_type="image/png")
    message_id = await receive_mms(live, url)
    async with await agent_session(live) as http:
        query = {"channelId": "sms", "messageId": message_id, "url": url}
        async with http.get("/inbox/api/media", params=query, headers=PAGE) as response:
            assert response.status == 200
            assert await response.read() == PICTURE
    [(_, first_auth), (second_path, second_auth)] = provider.seen
    assert (first_auth or "").startswith("Basic ")
    assert second_path == "/cdn/picture.png"
    assert second_auth is None


async def test_media_larger_than_the_cap_is_refused(
    start_gateway: StartGateway, provider: Host
) -> None:
    live = await start(start_gateway, provider.url)
    url = provider.media_url()
    provider.routes[url.removeprefix(provider.url)] = web.Response(
        body=b"\0" * (MAX_BYTES + 1), content_type="image/png"
    )
    message_id = await receive_mms(live, url)
    async with await agent_session(live) as http:
        assert await fetch(http, message_id, url) == 502


async def test_twilio_media_may_redirect_to_its_cdn_only(
    start_gateway: StartGateway, provider: Host
) -> None:
    live = await start(start_gateway, provider.url)
    adapter = live.gateway.adapters["sms"]
    allowed = adapter.media_redirect_allowed  # type: ignore[attr-defined]
    assert allowed("https://mms.twiliocdn.com/AC1/abc")
    assert allowed("https://s3-external-1.amazonaws.com/media.twiliocdn.com/AC1/abc")
    assert not allowed("https://s3-external-1.amazonaws.com/someone-elses-bucket/x")
    assert not allowed("http://mms.twiliocdn.com/AC1/abc")
    assert not allowed("https://evil.example/mms.twiliocdn.com")


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),
        ("224.0.0.1", False),
    ],
)
def test_only_public_addresses_count_as_public(address: str, public: bool) -> None:
    assert is_public(address) is public


async def test_names_that_resolve_to_internal_addresses_are_refused_when_connecting() -> None:
    resolver = PublicResolver(allowed="api.example.test")
    try:
        with pytest.raises(OSError, match="no public address"):
            await resolver.resolve("localhost", 80)
    finally:
        await resolver.close()
    trusting = PublicResolver(allowed="localhost")
    try:
        assert await trusting.resolve("localhost", 80)
    finally:
        await trusting.close()
