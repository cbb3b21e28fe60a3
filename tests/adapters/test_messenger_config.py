"""The Messenger channel's settings, capabilities and place in the adapter registry."""

from __future__ import annotations

from datetime import timedelta
from importlib.metadata import entry_points

import pytest
from pydantic import ValidationError

from adapters.messenger import MessengerAdapter, MessengerConfig
from channels import Adapter, ChannelType
from channels.testing import RecordingHost

REQUIRED = {
    "type": "messenger",
    "page_id": "104060582475931",
    "page_access_token": "EAAG-token",
    "app_secret": "app-secret",
    "verify_token": "verify-me",
}


def test_defaults_point_at_the_real_graph_api() -> None:
    config = MessengerConfig.model_validate(REQUIRED)
    assert config.graph_base_url == "https://graph.facebook.com"
    assert config.graph_version == "v24.0"
    assert config.human_agent_tag is False and config.app_id == ""
    assert config.rate_per_second is None


@pytest.mark.parametrize("missing", ["page_id", "page_access_token", "app_secret", "verify_token"])
def test_each_required_key_is_named_when_missing(missing: str) -> None:
    settings = {k: v for k, v in REQUIRED.items() if k != missing}
    with pytest.raises(ValidationError) as caught:
        MessengerConfig.model_validate(settings)
    assert [e["loc"] for e in caught.value.errors()] == [(missing,)]


def test_unknown_keys_and_bad_versions_are_refused() -> None:
    with pytest.raises(ValidationError):
        MessengerConfig.model_validate({**REQUIRED, "page_token": "x"})
    with pytest.raises(ValidationError):
        MessengerConfig.model_validate({**REQUIRED, "graph_version": "24"})


def test_secrets_stay_out_of_the_config_repr() -> None:
    text = repr(MessengerConfig.model_validate(REQUIRED))
    assert "EAAG-token" not in text and "app-secret" not in text and "verify-me" not in text


def test_the_adapter_is_registered_and_fits_the_protocol() -> None:
    [found] = [e for e in entry_points(group="inbox_gateway.adapters") if e.name == "messenger"]
    cls = found.load()
    assert cls is MessengerAdapter
    assert cls.type == "messenger" and cls.channel_type is ChannelType.FACEBOOK
    assert cls.Config is MessengerConfig and cls.default_rate_per_second == 20.0
    adapter = cls("facebook", MessengerConfig.model_validate(REQUIRED), RecordingHost())
    assert isinstance(adapter, Adapter)
    assert [(r.method, r.path) for r in adapter.routes()] == [
        ("GET", "webhook"),
        ("POST", "webhook"),
    ]


def test_capabilities_describe_messenger() -> None:
    caps = MessengerAdapter(
        "fb", MessengerConfig.model_validate(REQUIRED), RecordingHost()
    ).capabilities
    assert caps.text_limit == 2000
    assert caps.media == {"image", "video", "audio", "file"}
    assert caps.media_per_part == 1 and not caps.media_with_text
    assert caps.cards and caps.card_buttons_max == 3
    assert (caps.card_title_limit, caps.card_subtitle_limit) == (80, 80)
    assert (caps.quick_replies_max, caps.quick_reply_title_limit) == (13, 20)
    assert caps.native_postbacks and not caps.native_content
    assert caps.messaging_window == timedelta(hours=24)
    assert caps.agent_window is None


def test_the_agent_window_opens_only_with_the_human_agent_tag() -> None:
    config = MessengerConfig.model_validate({**REQUIRED, "human_agent_tag": True})
    caps = MessengerAdapter("fb", config, RecordingHost()).capabilities
    assert caps.agent_window == timedelta(days=7)
