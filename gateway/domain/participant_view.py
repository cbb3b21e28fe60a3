"""Messages as a participant sees them: the business speaks as one, under its own name.

Inside the business a message names who wrote it (`{"agentId": "ann"}`, the API token's
`{"appId": "crm"}`); a customer sees neither the agent's login nor the name of an
integration, only `{"business": {"name", "imageUrl"?}}` (`[gateway] business_name`,
`business_image_url`). A message the business recorded as the participant's own
(`direction: PARTICIPANT_TO_BUSINESS` through the API) shows the participant as its sender,
as their own messages do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from channels import Direction
from gateway.domain.participants import PARTICIPANT_KINDS
from gateway.domain.records import Business


def for_participant(
    message: Mapping[str, Any], business: Business, participant: tuple[str, str] | None = None
) -> dict[str, Any]:
    """The message with the business's neutral sender in place of whoever wrote it; one
    recorded as the participant's by the business shows `participant` (kind, id), the
    conversation's, as its sender."""
    shown = dict(message)
    if shown.get("direction") == Direction.BUSINESS_TO_PARTICIPANT.value:
        shown["sender"] = {"business": business.wire()}
    elif recorded_by_business(shown):
        # (no participant to name: an empty sender still keeps the writer's name inside)
        shown["sender"] = {participant[0]: participant[1]} if participant else {}
    return shown


def recorded_by_business(message: Mapping[str, Any]) -> bool:
    """Whether a participant's message was written by the business (an app or an agent)."""
    if message.get("direction") != Direction.PARTICIPANT_TO_BUSINESS.value:
        return False
    sender = message.get("sender")
    return not isinstance(sender, Mapping) or not any(kind in sender for kind in PARTICIPANT_KINDS)
