"""The `[channels.<id>]` table of a Twilio channel and the capabilities it implies."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from adapters.twilio import TwilioAdapter, TwilioConfig
from channels import Adapter, Capabilities, ChannelType
from channels.testing import RecordingHost

BASE = {"type": "twilio", "account_sid": "AC" + "0" * 32, "auth_token": "t"}


def test_number_or_service_is_enough() -> None:
    assert TwilioConfig.model_validate({**BASE, "from_number": "+15550001111"}).mms is True
    config = TwilioConfig.model_validate({**BASE, "messaging_service_sid": "MG1"})
    assert config.api_base_url == "https://api.twilio.com"


@pytest.mark.parametrize(
    "extra", [{}, {"from_number": "+15550001111", "messaging_service_sid": "MG1"}]
)
def test_exactly_one_sender_is_required_and_named(extra: dict[str, str]) -> None:
    with pytest.raises(ValidationError) as raised:
        TwilioConfig.model_validate({**BASE, **extra})
    assert "from_number" in str(raised.value) and "messaging_service_sid" in str(raised.value)


@pytest.mark.parametrize("key", ["account_sid", "auth_token"])
def test_credentials_are_required(key: str) -> None:
    settings = {**BASE, "from_number": "+1555"}
    del settings[key]
    with pytest.raises(ValidationError) as raised:
        TwilioConfig.model_validate(settings)
    assert raised.value.errors()[0]["loc"] == (key,)


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ValidationError):
        TwilioConfig.model_validate({**BASE, "from_number": "+1555", "from_numbr": "+1"})


def test_adapter_declares_sms_and_one_message_per_second() -> None:
    adapter = TwilioAdapter(
        "sms", TwilioConfig.model_validate({**BASE, "from_number": "+1555"}), RecordingHost()
    )
    assert isinstance(adapter, Adapter)
    assert (TwilioAdapter.type, TwilioAdapter.channel_type) == ("twilio", ChannelType.SMS)
    assert TwilioAdapter.default_rate_per_second == 1.0
    assert TwilioAdapter.Config is TwilioConfig


def test_capabilities_follow_the_mms_setting() -> None:
    def caps(mms: bool) -> Capabilities:
        config = TwilioConfig.model_validate({**BASE, "from_number": "+1555", "mms": mms})
        return TwilioAdapter("sms", config, RecordingHost()).capabilities

    with_mms, without = caps(True), caps(False)
    assert with_mms.text_limit == without.text_limit == 1600
    assert with_mms.media_with_text and with_mms.media_per_part == 10
    assert "image" in with_mms.media and "file" in with_mms.media
    assert without.media == frozenset()
    assert not with_mms.cards and not with_mms.native_postbacks


def test_entry_point_finds_the_adapter() -> None:
    from importlib.metadata import entry_points

    [point] = [e for e in entry_points(group="inbox_gateway.adapters") if e.name == "twilio"]
    assert point.load() is TwilioAdapter
