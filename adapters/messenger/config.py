"""The `[channels.<id>]` table of a Messenger channel."""

from __future__ import annotations

from pydantic import Field

from channels import ChannelConfig


class MessengerConfig(ChannelConfig):
    """Settings of one Facebook Page connected through a Meta app."""

    page_id: str = Field(min_length=1)
    # Secrets stay out of repr() so that a logged config never shows them.
    page_access_token: str = Field(min_length=1, repr=False)
    app_secret: str = Field(min_length=1, repr=False)
    verify_token: str = Field(min_length=1, repr=False)
    graph_base_url: str = Field(default="https://graph.facebook.com", pattern=r"^https?://")
    # The format python-facebook-api accepts: "v" + major + "." + minor.
    graph_version: str = Field(default="v24.0", pattern=r"^v\d+\.\d{1,2}$")
    human_agent_tag: bool = False
    app_id: str = ""
