"""Messages as a participant sees them: the business speaks as one, under its own name.

Inside the business a message names who wrote it (`{"agentId": "ann"}`, the API token's
`{"appId": "crm"}`); a customer sees neither the agent's login nor the name of an
integration, only `{"business": {"name", "imageUrl"?}}` (`[gateway] business_name`,
`business_image_url`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from channels import Direction
from gateway.domain.records import Business


def for_participant(message: Mapping[str, Any], business: Business) -> dict[str, Any]:
    """The message with the business's neutral sender in place of whoever wrote it."""
    shown = dict(message)
    if shown.get("direction") == Direction.BUSINESS_TO_PARTICIPANT.value:
        shown["sender"] = {"business": business.wire()}
    return shown
