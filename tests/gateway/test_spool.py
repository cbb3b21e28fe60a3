"""The spool keeps webhooks in the order they arrived, and gives back what an ended process held."""

from __future__ import annotations

import subprocess
from pathlib import Path

from channels import WebhookRequest
from gateway.store.spool import Spool


def _request(body: str) -> WebhookRequest:
    return WebhookRequest(
        method="POST",
        path="/channels/sms/inbound",
        query={"a": "1"},
        headers={"x-twilio-signature": "sig"},
        body=body.encode(),
        public_url="https://inbox.example.com/channels/sms/inbound?a=1",
        remote="203.0.113.9",
    )


def _ended_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_requests_come_back_whole_and_in_the_order_they_arrived(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    for n in range(3):
        assert spool.put(_request(f"Body=message {n}"))
    taken = [spool.take(path) for path in spool.waiting()]
    assert [t.request.body for t in taken if t] == [
        b"Body=message 0",
        b"Body=message 1",
        b"Body=message 2",
    ]
    assert taken[0] is not None and taken[0].request == _request("Body=message 0")
    assert spool.waiting() == []


def test_what_an_ended_process_held_is_given_back_in_its_place(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    for n in range(3):
        spool.put(_request(f"Body=message {n}"))
    first = spool.waiting()[0]
    # as if a process that has since ended had taken the oldest one
    first.rename(first.with_name(f"{first.name}.{_ended_pid()}.taken"))
    assert len(spool.waiting()) == 2
    assert spool.recover() == 1
    bodies = [t.request.body for t in (spool.take(p) for p in spool.waiting()) if t]
    assert bodies == [b"Body=message 0", b"Body=message 1", b"Body=message 2"]


def test_a_request_taken_by_another_process_is_not_taken_twice(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.put(_request("Body=once"))
    [path] = spool.waiting()
    assert spool.take(path) is not None
    assert spool.take(path) is None
