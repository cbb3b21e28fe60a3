"""Message content as the public API and every adapter see it (SPEC section 4)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict

from channels.links import LINK_PATTERN, MAX_URL, MEDIA_PATTERN, is_link_url, is_media_url

MAX_ITEM_TEXT = 4096


class Model(BaseModel):
    """Base for the public records: camelCase on the wire, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    def wire(self) -> dict[str, Any]:
        """The JSON-ready form, camelCase, without unset optional fields."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


Text = Annotated[str, Field(min_length=1, max_length=MAX_ITEM_TEXT)]


def _link(url: str) -> str:
    if not is_link_url(url):
        raise ValueError("a link is an http, https, tel or mailto URL")
    return url


def _media(url: str) -> str:
    if not is_media_url(url):
        raise ValueError("an image or file URL is an http or https URL")
    return url


#: a link: http, https, tel or mailto (channels.links says why no other scheme)
LinkUrl = Annotated[
    str,
    Field(min_length=1, max_length=MAX_URL, json_schema_extra={"pattern": LINK_PATTERN}),
    AfterValidator(_link),
]
#: an image, a file, an icon or a card's image: http or https
MediaUrl = Annotated[
    str,
    Field(min_length=1, max_length=MAX_URL, json_schema_extra={"pattern": MEDIA_PATTERN}),
    AfterValidator(_media),
]


def _integral(value: Any) -> Any:
    # JSON Schema counts 480.0 as the integer 480; strict validation would refuse the float
    return int(value) if isinstance(value, float) and value.is_integer() else value


#: a size in pixels: an integer from 1 to 2**31 - 1, what image formats' headers can hold (a
#: JSON number without fraction; never a boolean)
Pixels = Annotated[int, Field(ge=1, le=2**31 - 1), BeforeValidator(_integral)]


class Image(Model):
    url: MediaUrl
    width: Pixels | None = None
    height: Pixels | None = None
    filename: str | None = Field(default=None, max_length=255)


class File(Model):
    url: MediaUrl
    filename: str | None = Field(default=None, max_length=255)
    mime_type: str | None = Field(default=None, max_length=255)


class BasicItem(Model):
    """Exactly one of text, image or file."""

    text: Text | None = None
    image: Image | None = None
    file: File | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> BasicItem:
        if sum(x is not None for x in (self.text, self.image, self.file)) != 1:
            raise ValueError("an item holds exactly one of text, image, file")
        return self


class Basic(Model):
    items: list[BasicItem] = Field(min_length=1, max_length=20)


class Minimal(Model):
    text: Text
    icon_url: MediaUrl | None = None
    url: LinkUrl | None = None


class PostbackProperties(Model):
    interaction_id: Annotated[str, Field(min_length=1, max_length=1000)]


class Button(Model):
    """A link (`launch_url`) or a postback (`postback_properties`); exactly one."""

    label: Annotated[str, Field(min_length=1, max_length=256)]
    launch_url: LinkUrl | None = None
    postback_properties: PostbackProperties | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Button:
        if (self.launch_url is None) == (self.postback_properties is None):
            raise ValueError("a button has exactly one of launchUrl, postbackProperties")
        return self

    @property
    def interaction_id(self) -> str | None:
        return self.postback_properties.interaction_id if self.postback_properties else None


#: what the OpenAPI document says of a card that must show something: a title or a text line
#: that is not blank, an image or a button (`Template._shows_something`)
_SHOWS_SOMETHING: JsonDict = {
    "anyOf": [
        {"required": ["title"], "properties": {"title": {"type": "string", "pattern": r"\S"}}},
        {
            "required": ["textLines"],
            "properties": {
                "textLines": {"type": "array", "contains": {"type": "string", "pattern": r"\S"}}
            },
        },
        {"required": ["imageUrl"], "properties": {"imageUrl": {"type": "string"}}},
        {"required": ["buttons"], "properties": {"buttons": {"type": "array", "minItems": 1}}},
    ]
}


class Template(Model):
    model_config = ConfigDict(json_schema_extra=_SHOWS_SOMETHING)

    title: Annotated[str, Field(max_length=MAX_ITEM_TEXT)] | None = None
    text_lines: list[Annotated[str, Field(max_length=512)]] | None = Field(
        default=None, max_length=10
    )
    image_url: MediaUrl | None = None
    buttons: list[Button] | None = Field(default=None, max_length=10)
    orientation: Literal["PORTRAIT", "LANDSCAPE"] | None = None

    @model_validator(mode="after")
    def _shows_something(self) -> Template:
        # render() leaves out a blank title and blank lines: a card of nothing but those would
        # be sent as no part at all, and the delivery recorded SENT
        shown = (
            (self.title is not None and self.title.strip())
            or any(line.strip() for line in self.text_lines or [])
            or self.image_url
            or self.buttons
        )
        if not shown:
            raise ValueError("a card shows a title, a text line, an image or a button")
        return self


class FormField(Model):
    name: Annotated[str, Field(min_length=1, max_length=256)]
    value: Annotated[str, Field(max_length=MAX_ITEM_TEXT)]


class FormMedia(Model):
    image: Image | None = None
    file: File | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> FormMedia:
        if (self.image is None) == (self.file is None):
            raise ValueError("a media entry holds exactly one of image, file")
        return self


class Form(Model):
    title: Annotated[str, Field(max_length=MAX_ITEM_TEXT)] | None = None
    description: Annotated[str, Field(max_length=MAX_ITEM_TEXT)] | None = None
    fields: list[FormField] = Field(min_length=1, max_length=50)
    media: list[FormMedia] | None = Field(default=None, max_length=20)


class System(Model):
    text: Text
    buttons: list[Button] | None = Field(default=None, max_length=10)
    image_url: MediaUrl | None = None


class MessageContent(Model):
    """Exactly one of the five payloads, plus a preview and a title."""

    basic: Basic | None = None
    minimal: Minimal | None = None
    template: Template | None = None
    form: Form | None = None
    system: System | None = None
    preview_text: Annotated[str, Field(max_length=MAX_ITEM_TEXT)] | None = None
    title: Annotated[str, Field(max_length=MAX_ITEM_TEXT)] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> MessageContent:
        present = [self.basic, self.minimal, self.template, self.form, self.system]
        if sum(x is not None for x in present) != 1:
            raise ValueError("content holds exactly one of basic, minimal, template, form, system")
        return self

    @property
    def kind(self) -> Literal["basic", "minimal", "template", "form", "system"]:
        if self.basic is not None:
            return "basic"
        if self.minimal is not None:
            return "minimal"
        if self.template is not None:
            return "template"
        if self.form is not None:
            return "form"
        return "system"

    def with_preview(self) -> MessageContent:
        """This content with `previewText` filled in when it was absent."""
        if self.preview_text:
            return self
        return self.model_copy(update={"preview_text": preview_of(self)[:200]})

    @classmethod
    def of_text(cls, text: str) -> MessageContent:
        return cls(basic=Basic(items=[BasicItem(text=text)]))

    def blank_text(self) -> str | None:
        """Where the content holds text that is only whitespace (`basic.items.1.text`,
        `minimal.text`), or None. Rendered, such text shows nothing: every channel leaves it
        out, and a message of nothing else would go out as no part at all."""
        if self.basic is not None:
            for index, item in enumerate(self.basic.items):
                if item.text is not None and not item.text.strip():
                    return f"basic.items.{index}.text"
        if self.minimal is not None and not self.minimal.text.strip():
            return "minimal.text"
        return None

    def buttons(self) -> list[Button]:
        if self.template is not None and self.template.buttons:
            return list(self.template.buttons)
        if self.system is not None and self.system.buttons:
            return list(self.system.buttons)
        return []


def preview_of(content: MessageContent) -> str:
    """A one-line summary of any content, as inbox lists show it."""
    if content.basic is not None:
        for item in content.basic.items:
            if item.text:
                return item.text
        first = content.basic.items[0]
        if first.image is not None:
            return first.image.filename or "Image"
        if first.file is not None:
            return first.file.filename or "File"
    if content.minimal is not None:
        return content.minimal.text
    if content.template is not None:
        t = content.template
        return t.title or (t.text_lines[0] if t.text_lines else "") or "Card"
    if content.form is not None:
        return content.form.title or "Form"
    if content.system is not None:
        return content.system.text
    return ""
