"""What every door answers when a request cannot be done: `Refused` (its body is one of
`gateway.error_bodies`)."""

from __future__ import annotations


class Refused(Exception):
    """A send (or any API request) that cannot be done; `status` is the HTTP status to answer.

    `field` names the offending request field when the refusal is a 400 about one field.
    """

    def __init__(self, code: str, message: str, status: int, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.field = field

    @property
    def text(self) -> str:
        """The refusal in one line, led by the field it is about (`username: …`)."""
        return f"{self.field}: {self.message}" if self.field else self.message


def conversation_not_found(conversation_id: str) -> Refused:
    return Refused("CONVERSATION_NOT_FOUND", f"conversation {conversation_id!r} not found", 404)
