"""The OpenAPI 3.1 document of `/inbox/v2`, built from the same models that validate requests."""

from __future__ import annotations

from functools import cache
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from gateway.domain.directory import Directory
from gateway.state import GATEWAY
from gateway.web.api import schemas as s
from gateway.web.api.contacts import E164
from gateway.web.api.paging import DEFAULT_LIMIT, MAX_LIMIT

REF = "#/components/schemas/{model}"

DESCRIPTION = """The Wix Inbox v2 model for SMS, Messenger and web chat.

Successful calls answer 200, creation included; every error has the body `ErrorBody`.

- Listing messages: `visibility=BUSINESS_AND_PARTICIPANT` returns only the messages the
  participant sees; `visibility=BUSINESS` returns all of them, internal notes included.
- sendMessage: `targetChannelIds[0]` or `targetChannels[0]`, when given, must name a channel the
  participant has an address on (409 `NO_REACHABLE_CHANNEL`); there is no fallback to another.
  An `Idempotency-Key` seen from the same token within 24 h answers the first message whatever
  the body. `sendNotifications`, `silent` and `sendAs` are accepted and have no effect.
  Messages written with `direction=PARTICIPANT_TO_BUSINESS` are records: stored, announced, not
  sent, and they do not open a messaging window.
- Contacts: an address already held by another participant is 409 `IDENTITY_TAKEN`; SMS
  addresses are E.164 numbers. `memberId` participants need no prior record; an
  `anonymousVisitorId` must be one the web chat has seen (404 `PARTICIPANT_NOT_FOUND`).
  Merges of the same contacts at once take turns: a merge finds what those before it left (a
  contact already merged into its target is no change); 409 `MERGE_CONFLICT` only when others
  kept merging them meanwhile (try again).
- Text must be valid UTF-8 without NUL characters (400). A message's text (a `basic` item's,
  `minimal`'s) that is only whitespace is a 400 naming the field: it would show nothing.
- Request bodies are read strictly: a boolean is `true` or `false`, an integer a JSON integer
  (never a string, a number with a fraction or a boolean), exactly as the schemas say.
- Links (`launchUrl`, `minimal.url`) are `http`, `https`, `tel` or `mailto` URLs; images,
  files, icons and card images are `http` or `https`.
- Without a valid Bearer token every operation answers 401 before any other check but one:
  a request body in a `Content-Encoding` other than gzip or deflate is refused first (415).
"""

ERRORS = {
    400: "invalid request: malformed JSON, a wrong or unknown field, content over its limits, "
    "a parameter out of range or given twice, a cursor this API did not give out, text with "
    "NUL characters; `fieldViolations` names each",
    401: "missing or wrong Bearer token (`UNAUTHENTICATED`), answered before any other check",
    404: "unknown id (`CONVERSATION_NOT_FOUND`, `MESSAGE_NOT_FOUND`, `CONTACT_NOT_FOUND`, "
    "`PARTICIPANT_NOT_FOUND`)",
    409: "cannot be done now (`NO_REACHABLE_CHANNEL`, `PARTICIPANT_OPTED_OUT`, "
    "`OUTSIDE_MESSAGING_WINDOW`, `IDENTITY_TAKEN`, `MERGE_CONFLICT`)",
    413: "request body (or its Content-Length) over `gateway.max_body_bytes` (`PAYLOAD_TOO_LARGE`)",
    415: "a request body in a `Content-Encoding` the gateway does not read "
    "(`UNSUPPORTED_CONTENT_ENCODING`); `Accept-Encoding` names those it does, before any "
    "other check",
}

REQUESTS: list[type[BaseModel]] = [
    s.CreateConversationRequest,
    s.SendMessageRequest,
    s.CreateContactRequest,
    s.MergeContactsRequest,
]
RESPONSES: list[type[BaseModel]] = [
    s.CreateConversationResponse,
    s.ConversationResponse,
    s.ConversationList,
    s.MessageResponse,
    s.MessageList,
    s.ContactResponse,
    s.ErrorBody,
]


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _operation(
    operation_id: str,
    summary: str,
    answer: type[BaseModel],
    errors: tuple[int, ...],
    *,
    body: type[BaseModel] | None = None,
    parameters: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    responses = {"200": _json(answer, "success")}
    # every operation checks the body's coding, the token, the body size, the text of its
    # path and query, and that no query parameter is given twice
    for status in sorted({400, 401, 413, 415, *errors}):
        responses[str(status)] = _json(s.ErrorBody, ERRORS[status])
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "parameters": parameters or [],
        "responses": responses,
    }
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(body)}},
        }
    return operation


def _param(
    name: str, where: str, schema: dict[str, Any], required: bool, text: str
) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required, "schema": schema, "description": text}


ID = _param("id", "path", {"type": "string", "minLength": 1}, True, "the record's id")
LIMIT = _param(
    "paging.limit",
    "query",
    {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    False,
    "page size",
)
CURSOR = _param(
    "paging.cursor",
    "query",
    {"type": "string"},
    False,
    "`pagingMetadata.cursors.next` or `.prev` of the previous page",
)


def _paths() -> dict[str, Any]:
    listing = [
        _param("conversationId", "query", {"type": "string", "minLength": 1}, True, "whose"),
        _param(
            "visibility",
            "query",
            {"type": "string", "enum": ["BUSINESS_AND_PARTICIPANT", "BUSINESS"]},
            True,
            "BUSINESS_AND_PARTICIPANT: only messages the participant sees; BUSINESS: all, "
            "internal notes included",
        ),
        LIMIT,
        CURSOR,
        _param(
            "sorting.order",
            "query",
            {"type": "string", "enum": ["DESC", "ASC"], "default": "DESC"},
            False,
            "by sequence; later pages must repeat conversationId, visibility and sorting.order",
        ),
    ]
    key = _param(
        "Idempotency-Key",
        "header",
        {"type": "string", "minLength": 1, "maxLength": 255},
        False,
        "the same key from the same token within 24 h returns the first message, sends nothing",
    )
    return {
        "/inbox/v2/conversations": {
            "post": _operation(
                "createConversation",
                "The participant's conversation, created when new",
                s.CreateConversationResponse,
                (404,),
                body=s.CreateConversationRequest,
            ),
            "get": _operation(
                "listConversations",
                "Conversations, newest activity first",
                s.ConversationList,
                (),
                parameters=[LIMIT, CURSOR],
            ),
        },
        "/inbox/v2/conversations/{id}": {
            "get": _operation(
                "getConversation",
                "One conversation (a merged-away id answers with its target)",
                s.ConversationResponse,
                (404,),
                parameters=[ID],
            )
        },
        "/inbox/v2/messages": {
            "post": _operation(
                "sendMessage",
                "Store a message and deliver it in the background",
                s.MessageResponse,
                (404, 409),
                body=s.SendMessageRequest,
                parameters=[key],
            ),
            "get": _operation(
                "listMessages",
                "A conversation's messages by sequence",
                s.MessageList,
                (404,),
                parameters=listing,
            ),
        },
        "/inbox/v2/messages/{id}": {
            "get": _operation(
                "getMessage", "One message", s.MessageResponse, (404,), parameters=[ID]
            )
        },
        "/inbox/v2/contacts": {
            "post": _operation(
                "createContact",
                "A contact with addresses on channels",
                s.ContactResponse,
                (409,),
                body=s.CreateContactRequest,
            )
        },
        "/inbox/v2/contacts/{id}": {
            "get": _operation(
                "getContact",
                "One contact (a merged-away id answers as its target)",
                s.ContactResponse,
                (404,),
                parameters=[ID],
            )
        },
        "/inbox/v2/contacts/{id}/merge": {
            "post": _operation(
                "mergeContacts",
                "Merge other contacts (and their conversations) into this one",
                s.ContactResponse,
                (404, 409),
                body=s.MergeContactsRequest,
                parameters=[ID],
            )
        },
        "/inbox/v2/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "security": [],
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    }


#: models whose validators want exactly one of these (non-null) fields
EXACTLY_ONE = {
    "MessageContent": ("basic", "minimal", "template", "form", "system"),
    "BasicItem": ("text", "image", "file"),
    "FormMedia": ("image", "file"),
    "Button": ("launchUrl", "postbackProperties"),
    "ParticipantRef": ("contactId", "anonymousVisitorId", "memberId"),
    "Sender": ("contactId", "anonymousVisitorId", "memberId", "appId", "agentId"),
    "ErrorDetails": ("applicationError", "validationError"),
}


def _exactly_one(schemas: dict[str, Any]) -> dict[str, Any]:
    """Say in JSON Schema what the models' validators check: one field present, not null."""
    for name, fields in EXACTLY_ONE.items():
        if name in schemas:
            schemas[name]["oneOf"] = [
                {"required": [f], "properties": {f: {"not": {"type": "null"}}}} for f in fields
            ]
    return schemas


def _tidy(schema: Any) -> Any:
    """Drop pydantic's generated per-property titles, which only repeat the names."""
    if isinstance(schema, dict):
        properties = schema.get("properties")
        out = {k: _tidy(v) for k, v in schema.items() if k != "properties"}
        if isinstance(properties, dict):
            out["properties"] = {
                name: {k: _tidy(v) for k, v in prop.items() if k != "title"}
                if isinstance(prop, dict)
                else prop
                for name, prop in properties.items()
            }
        return out
    if isinstance(schema, list):
        return [_tidy(v) for v in schema]
    return schema


def _this_installation(schemas: dict[str, Any], channels: Channels) -> dict[str, Any]:
    """Name the configured channels: other ids are refused, SMS addresses are E.164."""
    ids = [channel_id for channel_id, _ in channels]
    sms = [channel_id for channel_id, kind in channels if kind == "SMS"]
    identity = schemas["IdentityIn"]
    identity["properties"]["channelId"] = {"type": "string", "enum": ids}
    if sms:
        identity["if"] = {"properties": {"channelId": {"enum": sms}}}
        identity["then"] = {"properties": {"address": {"pattern": E164.pattern}}}
    message_in = schemas["MessageIn"]["properties"]
    message_in["content"] = {
        "description": "any content but `system`, which only the gateway writes",
        "allOf": [
            message_in["content"],
            {"not": {"required": ["system"], "properties": {"system": {"not": {"type": "null"}}}}},
        ],
    }
    targets = message_in["targetChannelIds"]
    for branch in targets["anyOf"]:
        if branch.get("type") == "array":
            branch["items"] = {"type": "string", "enum": ids}
    return schemas


Channels = tuple[tuple[str, str], ...]


def channels_of(directory: Directory) -> Channels:
    """The configured channels as (id, channel type) pairs, which shape the document."""
    return tuple((info.channel_id, info.channel_type) for info in directory.values())


@cache
def document(channels: Channels) -> dict[str, Any]:
    """The whole OpenAPI document for an installation with these channels."""
    pairs: list[tuple[type[BaseModel], JsonSchemaMode]] = [(m, "validation") for m in REQUESTS]
    pairs += [(m, "serialization") for m in RESPONSES]
    _, schema = models_json_schema(pairs, ref_template=REF)
    schemas = _this_installation(_exactly_one(_tidy(schema.get("$defs", {}))), channels)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "inbox-gateway REST API",
            "version": "2",
            "description": DESCRIPTION,
        },
        "paths": _paths(),
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


async def serve(request: web.Request) -> web.Response:
    """GET /inbox/v2/openapi.json (public)."""
    directory = request.config_dict[GATEWAY].directory
    return web.json_response(document(channels_of(directory)))
