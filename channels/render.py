"""`render()`: any message fitted to any channel's capabilities (SPEC section 8).

Whatever a channel cannot show natively becomes text, a link on its own line or a numbered
choice; nothing is dropped silently. The one exception is a `minimal` message's `iconUrl`,
which is decoration, and `system` messages, which are never sent.
"""

from __future__ import annotations

from collections.abc import Sequence

from channels.capabilities import Capabilities, MediaKind
from channels.choices import NUMBER_PROMPT, numbered_line
from channels.content import Basic, Button, File, Form, MessageContent, Minimal, Template
from channels.parts import (
    CardPart,
    Choice,
    LinkButton,
    Media,
    MediaPart,
    NativePart,
    Part,
    QuickRepliesPart,
    Rendered,
    TextPart,
)
from channels.split import split_text

#: the text above quick replies when the message has nothing else left to say there
CHOICES_PROMPT = "Choose an option:"

#: a line of text or one native attachment, in reading order
Block = str | Media


def render(content: MessageContent, capabilities: Capabilities) -> Rendered:
    """The parts that show `content` on a channel with `capabilities`, and its numbered menu."""
    if capabilities.native_content:
        return Rendered((NativePart(content),))
    if content.basic is not None:
        return Rendered(_compose(_basic(content.basic, capabilities), capabilities))
    if content.minimal is not None:
        return Rendered(_compose(_minimal(content.minimal), capabilities))
    if content.form is not None:
        return Rendered(_compose(_form(content.form, capabilities), capabilities))
    if content.template is not None:
        return _template(content.template, capabilities)
    # system notes stay inside the business's inbox
    return Rendered(())


def _basic(basic: Basic, caps: Capabilities) -> list[Block]:
    blocks: list[Block] = []
    for item in basic.items:
        if item.text is not None:
            blocks.append(item.text)
        elif item.image is not None:
            image = item.image
            blocks.append(_media(image.url, "image", image.filename, None, caps))
        elif item.file is not None:
            blocks.append(_file(item.file, caps))
    return blocks


def _minimal(minimal: Minimal) -> list[Block]:
    return [f"{minimal.text} {minimal.url}" if minimal.url else minimal.text]


def _form(form: Form, caps: Capabilities) -> list[Block]:
    blocks: list[Block] = [text for text in (form.title, form.description) if text]
    blocks.extend(f"{field.name}: {field.value}" for field in form.fields)
    for entry in form.media or []:
        if entry.image is not None:
            blocks.append(_media(entry.image.url, "image", entry.image.filename, None, caps))
        elif entry.file is not None:
            blocks.append(_file(entry.file, caps))
    return blocks


def _file(file: File, caps: Capabilities) -> Block:
    return _media(file.url, _kind_of(file.mime_type), file.filename, file.mime_type, caps)


def _kind_of(mime_type: str | None) -> MediaKind:
    top = (mime_type or "").split("/", 1)[0].lower()
    if top == "image":
        return "image"
    if top == "video":
        return "video"
    if top == "audio":
        return "audio"
    return "file"


def _media(
    url: str, kind: MediaKind, filename: str | None, mime_type: str | None, caps: Capabilities
) -> Block:
    """A native attachment when the channel takes this kind, else the URL as a line."""
    if kind not in caps.media and kind in ("video", "audio") and "file" in caps.media:
        kind = "file"
    if kind in caps.media:
        return Media(url=url, kind=kind, filename=filename, mime_type=mime_type)
    return url


def _template(template: Template, caps: Capabilities) -> Rendered:
    title = template.title if template.title and template.title.strip() else None
    lines = [line for line in template.text_lines or [] if line.strip()]
    buttons = list(template.buttons or [])
    use_card = caps.cards and caps.card_title_limit >= 1 and (title is not None or bool(lines))
    card_buttons = buttons[: max(caps.card_buttons_max, 0)] if use_card else []
    rest = buttons[len(card_buttons) :]

    quick_max = caps.quick_replies_max if caps.quick_reply_title_limit >= 1 else 0
    postbacks = [_choice(button) for button in rest if button.postback_properties is not None]
    quick = postbacks[: max(quick_max, 0)]
    numbered = postbacks[len(quick) :]
    short_quick = tuple(
        Choice(_shorten(c.label, caps.quick_reply_title_limit), c.interaction_id) for c in quick
    )

    tail: list[Block] = [
        f"{button.label}: {button.launch_url}" for button in rest if button.launch_url
    ]
    # a label cut to fit a card button or a quick reply still reaches the person in full
    button_limit = caps.card_button_title_limit
    if button_limit is not None:
        tail.extend(
            f"{b.label}: {b.launch_url}" if b.launch_url else b.label
            for b in card_buttons
            if len(b.label) > button_limit
        )
    tail.extend(
        full.label
        for full, short in zip(quick, short_quick, strict=True)
        if full.label != short.label
    )
    if numbered:
        tail.extend(numbered_line(n, c.label) for n, c in enumerate(numbered, start=1))
        tail.append(NUMBER_PROMPT)

    parts: list[Part] = []
    if use_card:
        parts.extend(_card(title, lines, template.image_url, card_buttons, caps))
    else:
        body: list[Block] = [title] if title else []
        body.extend(lines)
        if template.image_url:
            body.append(_media(template.image_url, "image", None, None, caps))
        tail = body + tail
    parts.extend(_compose(tail, caps, short_quick))
    return Rendered(tuple(parts), menu=tuple(numbered))


def _card(
    title: str | None,
    lines: list[str],
    image_url: str | None,
    buttons: Sequence[Button],
    caps: Capabilities,
) -> list[Part]:
    """A preface of text when the words do not fit the card, then the card itself."""
    if title is None:
        title, lines = lines[0], lines[1:]
    subtitle = "\n".join(lines) or None
    fits = len(title) <= caps.card_title_limit and (
        subtitle is None or len(subtitle) <= caps.card_subtitle_limit
    )
    card_buttons = tuple(_card_button(button, caps.card_button_title_limit) for button in buttons)
    if fits:
        return [CardPart(title, subtitle, image_url, card_buttons)]
    preface = _compose([title, *lines], caps)
    short = CardPart(_shorten(title, caps.card_title_limit), None, image_url, card_buttons)
    return [*preface, short]


def _card_button(button: Button, limit: int | None) -> Choice | LinkButton:
    label = button.label if limit is None else _shorten(button.label, max(limit, 1))
    if button.launch_url is not None:
        return LinkButton(label, button.launch_url)
    return Choice(label, _choice(button).interaction_id)


def _choice(button: Button) -> Choice:
    assert button.postback_properties is not None
    return Choice(button.label, button.postback_properties.interaction_id)


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    if limit < 2:
        return text[:limit]
    return text[: limit - 1].rstrip() + "…"


def _compose(
    blocks: Sequence[Block], caps: Capabilities, quick: tuple[Choice, ...] = ()
) -> tuple[Part, ...]:
    """Blocks packed into parts within the text limit; quick replies ride on the last text."""
    parts: list[Part] = []
    if caps.media_with_text:
        chunks = _chunks([b for b in blocks if isinstance(b, str)], caps)
        media = [b for b in blocks if isinstance(b, Media)]
        per = max(caps.media_per_part, 1)
        groups = [tuple(media[i : i + per]) for i in range(0, len(media), per)]
        for index in range(max(len(chunks), len(groups))):
            text = chunks[index] if index < len(chunks) else ""
            parts.append(TextPart(text, groups[index] if index < len(groups) else ()))
    else:
        lines: list[str] = []
        for block in blocks:
            if isinstance(block, str):
                lines.append(block)
                continue
            parts.extend(TextPart(chunk) for chunk in _chunks(lines, caps))
            lines = []
            parts.append(MediaPart(block))
        parts.extend(TextPart(chunk) for chunk in _chunks(lines, caps))
    if quick:
        last = parts[-1] if parts else None
        if isinstance(last, TextPart) and not last.media and last.text:
            parts[-1] = QuickRepliesPart(last.text, quick)
        else:
            prompt = CHOICES_PROMPT
            if caps.text_limit is not None:
                prompt = prompt[: caps.text_limit]
            parts.append(QuickRepliesPart(prompt, quick))
    return tuple(parts)


def _chunks(lines: Sequence[str], caps: Capabilities) -> list[str]:
    return split_text("\n".join(lines), caps.text_limit) if lines else []
