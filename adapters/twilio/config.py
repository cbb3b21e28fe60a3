"""The `[channels.<id>]` table of a Twilio channel."""

from __future__ import annotations

from pydantic import Field, model_validator

from channels import ChannelConfig


class TwilioConfig(ChannelConfig):
    """Settings of one Twilio number or Messaging Service."""

    account_sid: str = Field(min_length=1)
    auth_token: str = Field(min_length=1)
    from_number: str | None = None
    messaging_service_sid: str | None = None
    #: images and files go out as MMS media; otherwise as links in the text
    mms: bool = True
    #: only changed for tests and the sandbox (see `adapters.twilio.fake`)
    api_base_url: str = "https://api.twilio.com"

    @model_validator(mode="after")
    def _one_sender(self) -> TwilioConfig:
        if bool(self.from_number) == bool(self.messaging_service_sid):
            raise ValueError(
                "from_number or messaging_service_sid: exactly one of them is required"
            )
        return self
