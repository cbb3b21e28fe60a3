"""The error bodies of SPEC section 4: the REST API's, which adapter routes, the inbox page and
the listener (for a request its HTTP parser refuses) answer with too."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def application_body(code: str, message: str, description: str | None = None) -> dict[str, Any]:
    return {
        "message": message,
        "details": {"applicationError": {"code": code, "description": description or message}},
    }


def validation_body(violations: Sequence[tuple[str, str]]) -> dict[str, Any]:
    return {
        "message": "invalid request",
        "details": {
            "validationError": {
                "fieldViolations": [{"field": f, "description": d} for f, d in violations]
            }
        },
    }
