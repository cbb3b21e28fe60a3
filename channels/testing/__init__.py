"""Test helpers for adapter authors: a recording host, request builders, case tables, provider
fakes' requests and answers, the loopback guard, log capture and the checks every adapter
must pass.

Public so that third-party adapters test themselves the way the built-ins do.
"""

from channels.testing.cases import (
    SendCase,
    WebhookCase,
    answer,
    case_id,
    check_send_case,
    check_webhook_case,
    parametrize_cases,
    response_json,
    route_handler,
    run_send_cases,
    run_webhook_cases,
)
from channels.testing.host import RecordingHost
from channels.testing.logs import capture_logs, check_secrets_not_logged
from channels.testing.loopback import LoopbackGuard, is_loopback, loopback_only
from channels.testing.provider import (
    CannedResponse,
    ExpectedRequest,
    ProviderFake,
    ProviderRequest,
    check_requests,
    record_request,
)
from channels.testing.universal import (
    UNIVERSAL_CHECKS,
    AdapterKit,
    check_adapter_kit,
    check_duplicate_is_one_event,
    check_rejects_malformed,
    check_rejects_unsigned,
    run_universal_check,
    universal_tests,
)
from channels.testing.webhooks import form_request, json_request

__all__ = [
    "UNIVERSAL_CHECKS",
    "AdapterKit",
    "CannedResponse",
    "ExpectedRequest",
    "LoopbackGuard",
    "ProviderFake",
    "ProviderRequest",
    "RecordingHost",
    "SendCase",
    "WebhookCase",
    "answer",
    "capture_logs",
    "case_id",
    "check_adapter_kit",
    "check_duplicate_is_one_event",
    "check_rejects_malformed",
    "check_rejects_unsigned",
    "check_requests",
    "check_secrets_not_logged",
    "check_send_case",
    "check_webhook_case",
    "form_request",
    "is_loopback",
    "json_request",
    "loopback_only",
    "parametrize_cases",
    "record_request",
    "response_json",
    "route_handler",
    "run_send_cases",
    "run_universal_check",
    "run_webhook_cases",
    "universal_tests",
]
