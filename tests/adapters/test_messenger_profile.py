"""Profile look-ups through the real client against FakeGraph."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.messenger import MessengerAdapter, MessengerConfig
from adapters.messenger.fake import FakeGraph
from channels import Participant
from channels.testing import RecordingHost, capture_logs, check_secrets_not_logged

PSID = "6847213315330411"
TOKEN = "page-token"


@pytest.fixture
async def fake() -> AsyncIterator[FakeGraph]:
    graph = FakeGraph(access_token=TOKEN, app_secret="secret")
    graph.profiles[PSID] = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "profile_pic": "https://platform-lookaside.fbsbx.com/ada.jpg",
        "locale": "en_GB",
    }
    await graph.start()
    yield graph
    await graph.stop()


@pytest.fixture
async def adapter(fake: FakeGraph) -> AsyncIterator[MessengerAdapter]:
    config = MessengerConfig(
        type="messenger",
        page_id="1",
        page_access_token=TOKEN,
        app_secret="secret",
        verify_token="v",
        graph_base_url=fake.base_url,
    )
    messenger = MessengerAdapter("facebook", config, RecordingHost())
    await messenger.start()
    yield messenger
    await messenger.stop()


async def test_a_known_person_gets_name_and_picture(adapter: MessengerAdapter) -> None:
    assert await adapter.lookup_profile(PSID) == Participant(
        address=PSID,
        display_name="Ada Lovelace",
        image_url="https://platform-lookaside.fbsbx.com/ada.jpg",
    )


async def test_a_person_with_only_a_first_name_gets_that(
    adapter: MessengerAdapter, fake: FakeGraph
) -> None:
    fake.profiles["42"] = {"first_name": "Cher"}
    assert await adapter.lookup_profile("42") == Participant(address="42", display_name="Cher")


async def test_an_unknown_person_gives_none(adapter: MessengerAdapter) -> None:
    assert await adapter.lookup_profile("999") is None


async def test_a_graph_failure_gives_none_rather_than_an_error(
    adapter: MessengerAdapter, fake: FakeGraph
) -> None:
    fake.fail_next(2)
    assert await adapter.lookup_profile(PSID) is None


async def test_a_slow_graph_gives_none_within_the_bound(
    adapter: MessengerAdapter, fake: FakeGraph
) -> None:
    adapter.profile_timeout = 0.2
    fake.delay = 1.0
    assert await adapter.lookup_profile(PSID) is None


async def test_a_stopped_channel_gives_none(adapter: MessengerAdapter) -> None:
    await adapter.stop()
    assert await adapter.lookup_profile(PSID) is None


async def test_an_unreachable_graph_gives_none_and_logs_no_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = MessengerConfig(
        type="messenger",
        page_id="1",
        page_access_token="EAAG-secret-token",
        app_secret="secret",
        verify_token="v",
        graph_base_url="http://127.0.0.1:9",
    )
    messenger = MessengerAdapter("facebook", config, RecordingHost())
    await messenger.start()
    try:
        assert await messenger.lookup_profile(PSID) is None
    finally:
        await messenger.stop()
    assert "no profile" in caplog.text
    assert "EAAG-secret-token" not in caplog.text


async def test_a_look_up_logs_no_token_even_at_debug(adapter: MessengerAdapter) -> None:
    """The library puts the token in the look-up's URL, which urllib3 logs at DEBUG."""
    with capture_logs() as records:
        assert await adapter.lookup_profile(PSID) is not None
    assert any("GET /v24.0/" in record.getMessage() for record in records)
    check_secrets_not_logged([TOKEN], records)
