"""Capability sets like the built-in channels', and content builders, for render tests."""

from __future__ import annotations

from channels import Capabilities, MessageContent
from channels.content import (
    Basic,
    BasicItem,
    Button,
    File,
    Form,
    FormField,
    FormMedia,
    Image,
    Minimal,
    PostbackProperties,
    System,
    Template,
)

SMS = Capabilities(
    text_limit=1600, media=frozenset({"image", "file"}), media_per_part=10, media_with_text=True
)
SMS_NO_MMS = Capabilities(text_limit=1600)
MESSENGER = Capabilities(
    text_limit=2000,
    media=frozenset({"image", "file", "video", "audio"}),
    cards=True,
    card_title_limit=80,
    card_subtitle_limit=80,
    card_buttons_max=3,
    quick_replies_max=13,
    quick_reply_title_limit=20,
    native_postbacks=True,
)
WEBCHAT = Capabilities(native_content=True)


def postback(label: str, interaction_id: str) -> Button:
    return Button(label=label, postback_properties=PostbackProperties(interaction_id=interaction_id))


def link(label: str, url: str) -> Button:
    return Button(label=label, launch_url=url)


def template(
    title: str | None = None,
    lines: list[str] | None = None,
    image_url: str | None = None,
    buttons: list[Button] | None = None,
) -> MessageContent:
    return MessageContent(
        template=Template(title=title, text_lines=lines, image_url=image_url, buttons=buttons)
    )


def basic(*items: BasicItem) -> MessageContent:
    return MessageContent(basic=Basic(items=list(items)))


def image(url: str) -> BasicItem:
    return BasicItem(image=Image(url=url))


def file(url: str, mime_type: str | None = None) -> BasicItem:
    return BasicItem(file=File(url=url, mime_type=mime_type))


def text(value: str) -> BasicItem:
    return BasicItem(text=value)


def minimal(value: str, url: str | None = None) -> MessageContent:
    return MessageContent(minimal=Minimal(text=value, url=url))


def form(
    title: str | None, description: str | None, fields: dict[str, str], media_url: str | None = None
) -> MessageContent:
    media = [FormMedia(image=Image(url=media_url))] if media_url else None
    return MessageContent(
        form=Form(
            title=title,
            description=description,
            fields=[FormField(name=k, value=v) for k, v in fields.items()],
            media=media,
        )
    )


def system(value: str) -> MessageContent:
    return MessageContent(system=System(text=value))
