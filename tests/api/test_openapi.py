"""The OpenAPI document describes what is served: schemathesis checks a live gateway against it."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from gateway.state import Gateway
from gateway.web.api.openapi import channels_of, document
from tests.api.conftest import TOKEN, api_config
from tests.support.fixtures import BACKENDS, backend_database
from tests.support.live import GatewayThread

AUTH = {"Authorization": f"Bearer {TOKEN}"}
Case = schemathesis.Case[Any]


class LiveServer:
    """The gateway served from its own thread and event loop (schemathesis calls block)."""

    def __init__(self, database_url: str) -> None:
        self.thread = GatewayThread(api_config(database_url))
        self.url = ""
        self.known: dict[str, str] = {}

    def start(self) -> None:
        self.url = self.thread.start().url

    def stop(self) -> None:
        self.thread.stop()

    @property
    def gateway(self) -> Gateway:
        return self.thread.live.gateway

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            headers={**AUTH, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer: dict[str, Any] = json.load(response)
            return answer


@pytest.fixture(scope="module", params=BACKENDS)
def openapi_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One database for the module's live server, on each backend."""
    yield from backend_database(request, tmp_path_factory.mktemp("openapi"))


@pytest.fixture(scope="module")
def live(openapi_database: str) -> Iterator[LiveServer]:
    server = LiveServer(openapi_database)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api_schema(live: LiveServer) -> Any:
    """The served document, pointed at the live server, with a real conversation to list."""
    with urllib.request.urlopen(live.url + "/inbox/v2/openapi.json", timeout=10) as response:
        served = json.load(response)
    channels = channels_of(live.gateway.directory)
    assert served == json.loads(json.dumps(document(channels)))
    contact = live.post(
        "/inbox/v2/contacts",
        {"identities": [{"channelId": "chat", "address": "schema-user"}]},
    )["contact"]
    conversation = live.post(
        "/inbox/v2/conversations", {"participantId": {"contactId": contact["id"]}}
    )["conversation"]
    message = live.post(
        "/inbox/v2/messages",
        {
            "conversationId": conversation["id"],
            "message": {"content": {"basic": {"items": [{"text": "hello"}]}}},
        },
    )["message"]
    live.known = {
        "/inbox/v2/conversations/{id}": conversation["id"],
        "/inbox/v2/messages/{id}": message["id"],
        "/inbox/v2/contacts/{id}": contact["id"],
        "/inbox/v2/contacts/{id}/merge": contact["id"],
        "conversationId": conversation["id"],
        "contactId": contact["id"],
    }
    schema = schemathesis.openapi.from_dict(served)
    schema.config.update(base_url=live.url, headers=AUTH)
    return schema


def steer(known: dict[str, str]) -> Any:
    """Point a generated case's ids at real records, so that 200 answers get checked too."""

    def point(case: Case) -> Case:
        if case.path_parameters and "id" in case.path_parameters:
            case.path_parameters["id"] = known[case.operation.path]
        if case.query and "conversationId" in case.query:
            case.query["conversationId"] = known["conversationId"]
        if isinstance(case.body, dict):
            if "conversationId" in case.body:
                case.body["conversationId"] = known["conversationId"]
            if isinstance(case.body.get("participantId"), dict):
                case.body["participantId"] = {"contactId": known["contactId"]}
        return case

    return point


#: 400s a schema cannot foresee: cursors are opaque, and text with NUL cannot be stored
UNFORESEEABLE = ("paging.cursor", "text must be UTF-8 without NUL characters")


def accepts_valid_data(ctx: Any, response: schemathesis.Response, case: Case) -> Any:
    """Schemathesis's positive-data check, minus the 400s listed in UNFORESEEABLE."""
    if response.status_code == 400:
        violations = response.json()["details"]["validationError"]["fieldViolations"]
        if all(
            v["field"] in UNFORESEEABLE or v["description"] in UNFORESEEABLE for v in violations
        ):
            return None
    return positive_data_acceptance(ctx, response, case)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_conforms_to_its_openapi_document(
    api_schema: Any, live: LiveServer, mode: GenerationMode
) -> None:
    """Generated requests never get a 5xx, and every answer matches the documented schema."""

    strategy = api_schema.as_strategy(generation_mode=mode)
    if mode is GenerationMode.POSITIVE:
        strategy = strategy | strategy.map(steer(live.known))

    @given(case=strategy)
    @settings(
        max_examples=200,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case: Case) -> None:
        case.call_and_validate(
            base_url=live.url,
            headers=AUTH,
            excluded_checks=[positive_data_acceptance],
            additional_checks=[accepts_valid_data],
        )

    check()


def test_document_lists_every_route_served() -> None:
    """Every route of the API sub-application is in the document, and nothing more."""
    from gateway.web.api import PREFIX, build_api

    served = {
        (route.method.lower(), PREFIX + (route.resource.canonical if route.resource else ""))
        for route in build_api().router.routes()
        if route.method != "HEAD"
    }
    documented = {(method, path) for path, item in document(())["paths"].items() for method in item}
    assert served == documented


@pytest.fixture(scope="module")
def schema_without_token(live: LiveServer, api_schema: Any) -> Any:
    """The served document again, this time sending no Authorization header."""
    with urllib.request.urlopen(live.url + "/inbox/v2/openapi.json", timeout=10) as response:
        schema = schemathesis.openapi.from_dict(json.load(response))
    schema.config.update(base_url=live.url)
    return schema


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_without_a_token_every_generated_request_answers_401(
    schema_without_token: Any, live: LiveServer, mode: GenerationMode
) -> None:
    """Whatever else is wrong with a request (the document says so), no token answers 401."""
    strategy = schema_without_token.as_strategy(generation_mode=mode)

    @given(case=strategy)
    @settings(
        max_examples=100,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case: Case) -> None:
        if case.operation.definition.raw.get("operationId") == "openapi":
            return
        if case.headers:
            case.headers.pop("Authorization", None)
        response = case.call(base_url=live.url)
        assert response.status_code == 401, (case.method, case.formatted_path, response.text)
        assert response.json()["details"]["applicationError"]["code"] == "UNAUTHENTICATED"

    check()
