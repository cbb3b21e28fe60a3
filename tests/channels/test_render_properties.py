"""render() over random messages and random capability sets: nothing lost, no limit broken."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import example, given, settings
from hypothesis import strategies as st

from channels import (
    NUMBER_PROMPT,
    Capabilities,
    CardPart,
    LinkButton,
    MediaPart,
    MessageContent,
    NativePart,
    QuickRepliesPart,
    Rendered,
    TextPart,
    numbered_line,
    render,
)
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

WORD = st.text(alphabet="abcxyzÀé漢😀-.,!?0123456789", min_size=1, max_size=12)
LONG_WORD = st.text(alphabet="abcdefgh", min_size=30, max_size=120)
SEP = st.sampled_from([" ", "  ", "\n", "\t", " \n"])


@st.composite
def texts(draw: st.DrawFn, max_words: int = 40) -> str:
    words = draw(st.lists(WORD | LONG_WORD, min_size=1, max_size=max_words))
    out = words[0]
    for word in words[1:]:
        out += draw(SEP) + word
    return out


URLS = st.builds(
    lambda path: f"https://media.example/{path}",
    st.text(alphabet="abcdefghij0123456789/_", min_size=1, max_size=60),
)
MIME = st.none() | st.sampled_from(["image/png", "video/mp4", "audio/ogg", "application/pdf"])
IMAGES = st.builds(Image, url=URLS)
FILES = st.builds(File, url=URLS, mime_type=MIME)
ITEMS = st.one_of(
    st.builds(BasicItem, text=texts()),
    st.builds(BasicItem, image=IMAGES),
    st.builds(BasicItem, file=FILES),
)
LABELS = texts(max_words=6).filter(lambda s: len(s) <= 256)
POSTBACKS = st.builds(
    lambda label, n: Button(
        label=label, postback_properties=PostbackProperties(interaction_id=f"id-{n}")
    ),
    LABELS,
    st.integers(0, 10**6),
)
LINKS = st.builds(lambda label, url: Button(label=label, launch_url=url), LABELS, URLS)


def _shows_something(
    title: str | None = None,
    text_lines: list[str] | None = None,
    image_url: str | None = None,
    buttons: list[Button] | None = None,
) -> bool:
    """What a card needs (the model refuses one without it)."""
    return bool(
        (title or "").strip()
        or any(line.strip() for line in text_lines or [])
        or image_url
        or buttons
    )


TEMPLATES = (
    st.fixed_dictionaries(
        {},
        optional={
            "title": st.none() | st.sampled_from(["", " "]) | texts(max_words=30),
            "text_lines": st.none()
            | st.lists(
                st.sampled_from(["", " \n"]) | texts(max_words=20).filter(lambda s: len(s) <= 512),
                max_size=10,
            ),
            "image_url": st.none() | URLS,
            "buttons": st.none() | st.lists(POSTBACKS | LINKS, max_size=10),
        },
    )
    .filter(lambda fields: _shows_something(**fields))
    .map(lambda fields: Template(**fields))
)
FORMS = st.builds(
    Form,
    title=st.none() | texts(max_words=10),
    description=st.none() | texts(),
    fields=st.lists(
        st.builds(
            FormField, name=texts(max_words=3).filter(lambda s: len(s) <= 256), value=texts()
        ),
        min_size=1,
        max_size=6,
    ),
    media=st.none()
    | st.lists(st.builds(FormMedia, image=IMAGES) | st.builds(FormMedia, file=FILES), max_size=4),
)
CONTENTS = st.one_of(
    st.builds(
        lambda items: MessageContent(basic=Basic(items=items)),
        st.lists(ITEMS, min_size=1, max_size=20),
    ),
    st.builds(
        lambda t, u: MessageContent(minimal=Minimal(text=t, url=u)), texts(), st.none() | URLS
    ),
    st.builds(lambda t: MessageContent(template=t), TEMPLATES),
    st.builds(lambda f: MessageContent(form=f), FORMS),
    st.builds(lambda t: MessageContent(system=System(text=t)), texts()),
)
CAPABILITIES = st.builds(
    Capabilities,
    text_limit=st.none() | st.integers(20, 2000),
    media=st.frozensets(st.sampled_from(["image", "file", "video", "audio"])),
    media_per_part=st.integers(1, 10),
    media_with_text=st.booleans(),
    cards=st.booleans(),
    card_title_limit=st.integers(1, 100),
    card_subtitle_limit=st.integers(1, 100),
    card_buttons_max=st.integers(0, 5),
    card_button_title_limit=st.none() | st.integers(1, 30),
    quick_replies_max=st.integers(0, 15),
    quick_reply_title_limit=st.integers(0, 30),
    native_postbacks=st.booleans(),
)


def _squash(text: str) -> str:
    return "".join(text.split())


@dataclass
class Seen:
    """What a person on the channel gets to see of a rendered message."""

    text: str = ""  # all visible text in order, whitespace removed
    urls: set[str] = field(default_factory=set)
    labels: set[str] = field(default_factory=set)
    links: set[tuple[str, str]] = field(default_factory=set)
    postback_ids: list[str] = field(default_factory=list)

    def shows(self, text: str) -> bool:
        return _squash(text) in self.text

    def shows_url(self, url: str) -> bool:
        return url in self.urls or self.shows(url)


def _seen(rendered: Rendered) -> Seen:
    seen = Seen()
    for part in rendered.parts:
        if isinstance(part, TextPart):
            seen.text += _squash(part.text)
            seen.urls.update(m.url for m in part.media)
        elif isinstance(part, MediaPart):
            seen.urls.add(part.media.url)
        elif isinstance(part, QuickRepliesPart):
            seen.text += _squash(part.text)
            seen.labels.update(c.label for c in part.choices)
            seen.postback_ids.extend(c.interaction_id for c in part.choices)
        elif isinstance(part, CardPart):
            seen.text += _squash(part.title) + _squash(part.subtitle or "")
            if part.image_url:
                seen.urls.add(part.image_url)
            for button in part.buttons:
                seen.labels.add(button.label)
                if isinstance(button, LinkButton):
                    seen.links.add((button.label, button.url))
                else:
                    seen.postback_ids.append(button.interaction_id)
    seen.postback_ids.extend(c.interaction_id for c in rendered.menu)
    return seen


def _assert_preserved(content: MessageContent, rendered: Rendered) -> None:
    seen = _seen(rendered)
    if content.basic is not None:
        for item in content.basic.items:
            if item.text is not None:
                assert seen.shows(item.text)
            media = item.image or item.file
            if media is not None:
                assert seen.shows_url(media.url)
    elif content.minimal is not None:
        assert seen.shows(content.minimal.text)
        if content.minimal.url:
            assert seen.shows_url(content.minimal.url)
    elif content.form is not None:
        form = content.form
        for text in (form.title, form.description):
            if text:
                assert seen.shows(text)
        for f in form.fields:
            assert seen.shows(f"{f.name}: {f.value}")
        for entry in form.media or []:
            media = entry.image or entry.file
            assert media is not None and seen.shows_url(media.url)
    elif content.template is not None:
        t = content.template
        if t.title:
            assert seen.shows(t.title)
        for line in t.text_lines or []:
            assert seen.shows(line)
        if t.image_url:
            assert seen.shows_url(t.image_url)
        postbacks = []
        for b in t.buttons or []:
            if b.launch_url is not None:
                assert (b.label, b.launch_url) in seen.links or seen.shows(
                    f"{b.label}: {b.launch_url}"
                )
            else:
                assert (
                    b.label in seen.labels
                    or seen.shows(b.label)
                    or any(c.label == b.label for c in rendered.menu)
                )
                postbacks.append(b.interaction_id)
        # every postback is offered exactly once: natively or as a number
        assert seen.postback_ids == postbacks
        for number, choice in enumerate(rendered.menu, start=1):
            assert seen.shows(numbered_line(number, choice.label))
        if rendered.menu:
            assert seen.shows(NUMBER_PROMPT)


def _assert_within_limits(rendered: Rendered, caps: Capabilities) -> None:
    def fits(text: str) -> bool:
        return caps.text_limit is None or len(text) <= caps.text_limit

    for part in rendered.parts:
        if isinstance(part, TextPart):
            assert fits(part.text)
            assert part.text.strip() or part.media, "an empty message"
            assert len(part.media) <= caps.media_per_part
            assert not part.media or caps.media_with_text
            assert all(m.kind in caps.media for m in part.media)
        elif isinstance(part, MediaPart):
            assert part.media.kind in caps.media and not caps.media_with_text
        elif isinstance(part, QuickRepliesPart):
            assert fits(part.text) and part.text.strip()
            assert 0 < len(part.choices) <= caps.quick_replies_max
            assert all(len(c.label) <= caps.quick_reply_title_limit for c in part.choices)
        elif isinstance(part, CardPart):
            assert caps.cards
            assert 0 < len(part.title) <= caps.card_title_limit
            assert part.subtitle is None or len(part.subtitle) <= caps.card_subtitle_limit
            assert len(part.buttons) <= caps.card_buttons_max
            limit = caps.card_button_title_limit
            assert limit is None or all(len(b.label) <= limit for b in part.buttons)
        else:
            raise AssertionError(f"unexpected part {part!r} for a channel without native content")


@settings(max_examples=400, deadline=None)
@given(CONTENTS, CAPABILITIES)
@example(
    MessageContent(
        template=Template(
            title="0",
            buttons=[Button(label="0 0", launch_url="https://media.example/0")],
        )
    ),
    Capabilities(cards=True, card_buttons_max=1, card_button_title_limit=1),
)
def test_render_loses_nothing_and_keeps_every_limit(
    content: MessageContent, caps: Capabilities
) -> None:
    rendered = render(content, caps)
    if content.system is not None:
        assert rendered.parts == () and rendered.menu == ()
        return
    assert rendered.parts, "every message but a system note has something to send"
    _assert_within_limits(rendered, caps)
    _assert_preserved(content, rendered)


@given(CONTENTS, CAPABILITIES)
def test_channels_with_native_content_get_the_message_as_is(
    content: MessageContent, caps: Capabilities
) -> None:
    native = Capabilities(**{**caps.__dict__, "native_content": True})
    assert render(content, native) == Rendered((NativePart(content),))
