"""`channels.render` throughput: a fixed set of messages fitted to three kinds of channel.

The capabilities are the real adapters' own: Twilio SMS/MMS, Messenger, and the built-in
web chat (native content). The baseline in the same run is `MessageContent.model_validate`
of the same messages' JSON, which every message pays once anyway.

    python -m bench.render [--quick]
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from adapters.messenger.adapter import MessengerAdapter
from adapters.messenger.config import MessengerConfig
from adapters.twilio.adapter import TwilioAdapter
from adapters.twilio.config import TwilioConfig
from adapters.webchat.adapter import CAPABILITIES as WEBCHAT
from bench._common import Stopwatch, fmt, options, ratio, table
from channels import Capabilities, MessageContent, render
from channels.testing import RecordingHost

LONG = " ".join(f"Sentence {n} of a long answer about delivery times." for n in range(70))

#: one message of every shape the API accepts (system notes are never sent), as JSON
MESSAGES: dict[str, dict[str, Any]] = {
    "short text": {"basic": {"items": [{"text": "Your order #1234 has shipped."}]}},
    "long text": {"basic": {"items": [{"text": LONG}]}},
    "text+image+file": {
        "basic": {
            "items": [
                {"text": "Here is your invoice and a photo of the parcel."},
                {"image": {"url": "https://shop.example/p/parcel.jpg", "filename": "p.jpg"}},
                {
                    "file": {
                        "url": "https://shop.example/i/1234.pdf",
                        "filename": "invoice-1234.pdf",
                        "mimeType": "application/pdf",
                    }
                },
            ]
        }
    },
    "minimal": {"minimal": {"text": "Track your parcel", "url": "https://shop.example/track/1234"}},
    "card, 3 buttons": {
        "template": {
            "title": "Blue running shoes",
            "textLines": ["Size 42", "In stock"],
            "imageUrl": "https://shop.example/p/shoes.jpg",
            "buttons": [
                {"label": "Buy now", "postbackProperties": {"interactionId": "buy-1"}},
                {"label": "Other sizes", "postbackProperties": {"interactionId": "sizes-1"}},
                {"label": "Details", "launchUrl": "https://shop.example/p/shoes"},
            ],
        }
    },
    "choices, 6": {
        "template": {
            "title": "When should we deliver?",
            "buttons": [
                {"label": label, "postbackProperties": {"interactionId": f"slot-{n}"}}
                for n, label in enumerate(
                    ["Mon 9-12", "Mon 13-17", "Tue 9-12", "Tue 13-17", "Wed 9-12", "Later"]
                )
            ],
        }
    },
    "form": {
        "form": {
            "title": "Return request",
            "description": "We received your return request.",
            "fields": [
                {"name": "Order", "value": "#1234"},
                {"name": "Reason", "value": "Too small"},
                {"name": "Refund", "value": "Card ending 4242"},
            ],
            "media": [{"image": {"url": "https://shop.example/r/1.jpg"}}],
        }
    },
}


@dataclass(frozen=True)
class Sizes:
    #: seconds each timed round lasts, and rounds per measurement (the median is kept)
    round_seconds: float
    rounds: int


DEFAULT = Sizes(round_seconds=0.25, rounds=7)
QUICK = Sizes(round_seconds=0.03, rounds=5)


def capability_sets() -> dict[str, Capabilities]:
    """The capabilities the shipped adapters declare."""
    host = RecordingHost()
    sms = TwilioAdapter(
        "sms",
        TwilioConfig(
            type="twilio", account_sid="AC" + "0" * 32, auth_token="t", from_number="+15550001111"
        ),
        host,
    )
    messenger = MessengerAdapter(
        "facebook",
        MessengerConfig(
            type="messenger", page_id="1", page_access_token="t", app_secret="s", verify_token="v"
        ),
        host,
    )
    return {
        "SMS (Twilio, MMS)": sms.capabilities,
        "Messenger": messenger.capabilities,
        "native (web chat)": WEBCHAT,
    }


def renderer(caps: Capabilities) -> Callable[[MessageContent], object]:
    return lambda content: render(content, caps)


def seconds_each(fn: Callable[[Any], object], items: Sequence[Any], sizes: Sizes) -> float:
    """Median seconds per item of `fn` over `items`, in rounds of about `round_seconds`."""
    started = time.perf_counter()
    for item in items:
        fn(item)
    once = max(time.perf_counter() - started, 1e-9)
    loops = max(1, int(sizes.round_seconds / once))
    per_item = []
    for _ in range(sizes.rounds):
        started = time.perf_counter()
        for _ in range(loops):
            for item in items:
                fn(item)
        per_item.append((time.perf_counter() - started) / (loops * len(items)))
    return statistics.median(per_item)


def main() -> None:
    args = options(__doc__ or "")
    sizes = QUICK if args.quick else DEFAULT
    clock = Stopwatch()
    wires = list(MESSAGES.values())
    contents = [MessageContent.model_validate(w) for w in wires]
    capabilities = capability_sets()
    # Every message renders to at least one part everywhere, or the numbers mean nothing.
    for name, caps in capabilities.items():
        for kind, content in zip(MESSAGES, contents, strict=True):
            if not render(content, caps).parts:
                raise RuntimeError(f"{kind!r} rendered to nothing on {name}")

    baseline = seconds_each(MessageContent.model_validate, wires, sizes)
    summary = [
        [
            "MessageContent.model_validate (baseline)",
            fmt(1 / baseline, 0),
            fmt(baseline * 1e6),
            "1.00",
        ]
    ]
    ratios = []
    for name, caps in capabilities.items():
        each = seconds_each(renderer(caps), contents, sizes)
        summary.append(
            [f"render, {name}", fmt(1 / each, 0), fmt(each * 1e6), fmt(ratio(each, baseline))]
        )
        ratios.append(f"{name} {ratio(each, baseline):.2f}")

    detail = []
    for kind, wire, content in zip(MESSAGES, wires, contents, strict=True):
        row = [kind, fmt(seconds_each(MessageContent.model_validate, [wire], sizes) * 1e6)]
        for caps in capabilities.values():
            each = seconds_each(renderer(caps), [content], sizes)
            parts = len(render(content, caps).parts)
            row.append(f"{fmt(each * 1e6)} ({parts})")
        detail.append(row)

    print(f"{len(contents)} messages: {', '.join(MESSAGES)}")
    print()
    print(table(["operation", "messages/s", "µs/message", "time vs baseline"], summary))
    print()
    print("µs per message (parts rendered):")
    print()
    print(table(["message", "validate", *capabilities], detail))
    print()
    print("ratio render / model_validate, time per message: " + ", ".join(ratios))
    print(f"elapsed {clock.elapsed:.1f} s{' (--quick)' if args.quick else ''}")


if __name__ == "__main__":
    main()
