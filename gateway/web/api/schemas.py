"""The REST API's request and response shapes, as pydantic models (and so as JSON Schema).

Requests are validated with these models; responses are built by `gateway.domain.records`, and
the response models here describe them for the OpenAPI document (the tests hold the two
together).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from channels import MessageContent
from channels.content import Model

Id = Annotated[str, Field(min_length=1, max_length=64)]
DateTime = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
ChannelTypeName = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{0,31}$")]
ChannelId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
DirectionName = Literal["BUSINESS_TO_PARTICIPANT", "PARTICIPANT_TO_BUSINESS"]
VisibilityName = Literal["BUSINESS_AND_PARTICIPANT", "BUSINESS"]


def _exactly_one(model: Model, names: tuple[str, ...]) -> None:
    if sum(getattr(model, n) is not None for n in names) != 1:
        # the names as the client wrote them (contactId), not as Python spells them
        fields = type(model).model_fields
        wire = [fields[n].alias or n for n in names]
        raise ValueError("give exactly one of " + ", ".join(wire))


class ParticipantRef(Model):
    """Exactly one of contactId, anonymousVisitorId, memberId."""

    contact_id: Id | None = None
    anonymous_visitor_id: Id | None = None
    member_id: Id | None = None

    @model_validator(mode="after")
    def _one(self) -> ParticipantRef:
        _exactly_one(self, ("contact_id", "anonymous_visitor_id", "member_id"))
        return self

    @property
    def kind_and_id(self) -> tuple[str, str]:
        for name, kind in (
            ("contact_id", "contactId"),
            ("anonymous_visitor_id", "anonymousVisitorId"),
            ("member_id", "memberId"),
        ):
            value = getattr(self, name)
            if value is not None:
                return kind, value
        raise AssertionError("validated to hold one")


# Requests ---------------------------------------------------------------------------------


class CreateConversationRequest(Model):
    participant_id: ParticipantRef


class MessageIn(Model):
    content: MessageContent
    direction: DirectionName | None = None
    visibility: VisibilityName | None = None
    target_channels: list[ChannelTypeName] | None = Field(default=None, max_length=10)
    target_channel_ids: list[ChannelId] | None = Field(default=None, max_length=10)
    badges: list[dict[str, Any]] | None = Field(default=None, max_length=10)


class SendMessageRequest(Model):
    """sendMessage; `sendNotifications`, `silent` and `sendAs` are accepted and have no effect."""

    conversation_id: Id
    message: MessageIn
    send_notifications: bool | None = None
    silent: bool | None = None
    send_as: Any = None


class IdentityIn(Model):
    channel_id: ChannelId
    address: Annotated[str, Field(min_length=1, max_length=255)]


class CreateContactRequest(Model):
    display_name: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    identities: list[IdentityIn] = Field(max_length=50)


class MergeContactsRequest(Model):
    source_contact_ids: list[Id] = Field(min_length=1, max_length=100)


# Responses --------------------------------------------------------------------------------


class Sender(Model):
    """Exactly one of the participant kinds, `appId` (an API token) or `agentId`."""

    contact_id: str | None = None
    anonymous_visitor_id: str | None = None
    member_id: str | None = None
    app_id: str | None = None
    agent_id: str | None = None


class DisplayData(Model):
    name: str
    image_url: str | None = None


class Conversation(Model):
    id: str
    participant: ParticipantRef
    channels: list[str]
    channel_ids: list[str]
    business_display_data: DisplayData
    participant_display_data: DisplayData
    created_date: DateTime
    last_activity_date: DateTime


class DeliveryError(Model):
    code: str
    message: str


class Delivery(Model):
    channel_id: str
    status: Literal["PENDING", "SENT", "DELIVERED", "READ", "FAILED"]
    provider_message_ids: list[str]
    error: DeliveryError | None = None
    updated_date: DateTime


class Message(Model):
    id: str
    conversation_id: str
    content: MessageContent
    sender: Sender
    direction: DirectionName
    visibility: VisibilityName
    sequence: Annotated[str, Field(pattern=r"^[1-9][0-9]*$")]
    created_date: DateTime
    source_channel: str | None = None
    source_channel_id: str | None = None
    target_channels: list[str] | None = None
    target_channel_ids: list[str] | None = None
    badges: list[Any]
    delivery: Delivery | None = None


class Identity(Model):
    channel_id: str
    channel_type: str
    address: str


class Contact(Model):
    id: str
    display_name: str
    image_url: str | None = None
    identities: list[Identity]
    opted_out: list[str]
    created_date: DateTime


class Cursors(Model):
    next: str | None = None
    prev: str | None = None


class PagingMetadata(Model):
    count: int
    cursors: Cursors


class ConversationResponse(Model):
    conversation: Conversation


class CreateConversationResponse(Model):
    conversation: Conversation
    new_conversation: bool


class ConversationList(Model):
    conversations: list[Conversation]
    paging_metadata: PagingMetadata


class MessageResponse(Model):
    message: Message


class MessageList(Model):
    messages: list[Message]
    paging_metadata: PagingMetadata


class ContactResponse(Model):
    contact: Contact


class ApplicationError(Model):
    code: str
    description: str


class FieldViolation(Model):
    field: str
    description: str


class ValidationError(Model):
    field_violations: list[FieldViolation]


class ErrorDetails(Model):
    application_error: ApplicationError | None = None
    validation_error: ValidationError | None = None


class ErrorBody(Model):
    """Every error the API answers."""

    message: str
    details: ErrorDetails
