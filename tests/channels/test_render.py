"""How each message type is shown on SMS-, Messenger- and web-chat-like channels (SPEC §8)."""

from __future__ import annotations

from dataclasses import replace

from channels import (
    NUMBER_PROMPT,
    Capabilities,
    CardPart,
    Choice,
    LinkButton,
    Media,
    MediaPart,
    MessageContent,
    NativePart,
    QuickRepliesPart,
    TextPart,
    match_choice,
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
    card_button_title_limit=20,
    quick_replies_max=13,
    quick_reply_title_limit=20,
    native_postbacks=True,
)
WEBCHAT = Capabilities(native_content=True)


def postback(label: str, interaction_id: str) -> Button:
    return Button(
        label=label, postback_properties=PostbackProperties(interaction_id=interaction_id)
    )


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


def test_web_chat_shows_every_content_as_is() -> None:
    for content in (
        basic(text("hi")),
        minimal("see", "https://x.example/a"),
        template("T", ["a"], buttons=[postback("Yes", "y")]),
        form("F", None, {"a": "b"}),
        system("Message could not be delivered"),
    ):
        assert render(content, WEBCHAT).parts == (NativePart(content),)


def test_system_notes_are_never_sent_to_sms_or_messenger() -> None:
    for caps in (SMS, MESSENGER):
        assert render(system("opted out"), caps).parts == ()


def test_sms_splits_long_text_at_1600_on_word_boundaries() -> None:
    words = [f"w{i:04d}" for i in range(700)]
    parts = render(basic(text(" ".join(words[:350])), text(" ".join(words[350:]))), SMS).parts
    assert len(parts) == 3
    assert all(isinstance(p, TextPart) and len(p.text) <= 1600 for p in parts)
    assert [w for p in parts if isinstance(p, TextPart) for w in p.text.split()] == words


def test_messenger_splits_long_text_at_2000() -> None:
    parts = render(basic(text("x " * 2000), text("y " * 500)), MESSENGER).parts
    assert all(isinstance(p, TextPart) and len(p.text) <= 2000 for p in parts)
    assert len(parts) == 3
    words = [w for p in parts if isinstance(p, TextPart) for w in p.text.split()]
    assert words == ["x"] * 2000 + ["y"] * 500


def test_mms_carries_text_and_up_to_ten_media_per_message() -> None:
    items = [text("Your photos")] + [image(f"https://img.example/{i}.jpg") for i in range(12)]
    parts = render(basic(*items), SMS).parts
    assert parts == (
        TextPart(
            "Your photos",
            tuple(Media(f"https://img.example/{i}.jpg", "image") for i in range(10)),
        ),
        TextPart(
            "",
            (
                Media("https://img.example/10.jpg", "image"),
                Media("https://img.example/11.jpg", "image"),
            ),
        ),
    )


def test_sms_without_mms_puts_media_urls_on_their_own_lines() -> None:
    content = basic(text("Invoice attached"), file("https://files.example/inv.pdf"))
    assert render(content, SMS_NO_MMS).parts == (
        TextPart("Invoice attached\nhttps://files.example/inv.pdf"),
    )


def test_messenger_sends_attachments_as_their_own_messages_in_order() -> None:
    content = basic(
        text("before"),
        image("https://img.example/a.png"),
        file("https://f.example/v.mp4", "video/mp4"),
        text("after"),
    )
    assert render(content, MESSENGER).parts == (
        TextPart("before"),
        MediaPart(Media("https://img.example/a.png", "image")),
        MediaPart(Media("https://f.example/v.mp4", "video", mime_type="video/mp4")),
        TextPart("after"),
    )


def test_minimal_is_text_then_url() -> None:
    content = minimal("Track your order", "https://shop.example/t/1")
    expected = (TextPart("Track your order https://shop.example/t/1"),)
    assert render(content, SMS).parts == expected
    assert render(content, MESSENGER).parts == expected
    assert render(minimal("Just text"), SMS).parts == (TextPart("Just text"),)


def test_sms_template_reads_as_text_with_a_numbered_menu() -> None:
    content = template(
        "Your order",
        ["2 items", "Total $12"],
        "https://img.example/o.png",
        [
            link("Track", "https://t.example/1"),
            postback("Cancel order", "cancel"),
            postback("Talk to us", "agent"),
        ],
    )
    rendered = render(content, SMS)
    assert rendered.parts == (
        TextPart(
            "Your order\n2 items\nTotal $12\nTrack: https://t.example/1\n"
            f"1) Cancel order\n2) Talk to us\n{NUMBER_PROMPT}",
            (Media("https://img.example/o.png", "image"),),
        ),
    )
    assert rendered.menu == (Choice("Cancel order", "cancel"), Choice("Talk to us", "agent"))
    assert match_choice("2", rendered.menu) == Choice("Talk to us", "agent")


def test_sms_without_mms_shows_the_template_image_as_a_url_line() -> None:
    content = template("Look", None, "https://img.example/o.png")
    assert render(content, SMS_NO_MMS).parts == (TextPart("Look\nhttps://img.example/o.png"),)


def test_messenger_template_with_five_postbacks_is_a_card_of_three_and_quick_replies() -> None:
    buttons = [postback(f"Option {i}", f"opt{i}") for i in range(1, 6)]
    rendered = render(
        template("Pick one", ["We have five"], "https://i.example/p.png", buttons), MESSENGER
    )
    assert rendered.parts == (
        CardPart(
            "Pick one",
            "We have five",
            "https://i.example/p.png",
            (Choice("Option 1", "opt1"), Choice("Option 2", "opt2"), Choice("Option 3", "opt3")),
        ),
        QuickRepliesPart(
            "Choose an option:", (Choice("Option 4", "opt4"), Choice("Option 5", "opt5"))
        ),
    )
    assert rendered.menu == ()


def test_messenger_links_beyond_the_card_become_text_lines() -> None:
    buttons = [link(f"Site {i}", f"https://s.example/{i}") for i in range(5)]
    rendered = render(template("Links", buttons=buttons), MESSENGER)
    card, rest = rendered.parts
    assert isinstance(card, CardPart)
    assert card.buttons == tuple(
        LinkButton(f"Site {i}", f"https://s.example/{i}") for i in range(3)
    )
    assert rest == TextPart("Site 3: https://s.example/3\nSite 4: https://s.example/4")


def test_postbacks_beyond_card_and_quick_replies_become_numbered_choices() -> None:
    few_quick_replies = replace(MESSENGER, quick_replies_max=4)
    buttons = [postback(f"P{i}", f"p{i}") for i in range(10)]
    rendered = render(template("Many", buttons=buttons), few_quick_replies)
    card, quick = rendered.parts
    assert isinstance(card, CardPart) and len(card.buttons) == 3
    assert isinstance(quick, QuickRepliesPart)
    assert [c.interaction_id for c in quick.choices] == ["p3", "p4", "p5", "p6"]
    assert quick.text == f"1) P7\n2) P8\n3) P9\n{NUMBER_PROMPT}"
    assert [c.interaction_id for c in rendered.menu] == ["p7", "p8", "p9"]


def test_long_quick_reply_labels_are_shortened_and_shown_in_full_in_the_text() -> None:
    long_label = "Please call me back tomorrow morning"
    buttons = [postback(f"B{i}", f"b{i}") for i in range(3)] + [postback(long_label, "call")]
    _card, quick = render(template("Hi", buttons=buttons), MESSENGER).parts
    assert isinstance(quick, QuickRepliesPart)
    assert quick.choices == (Choice("Please call me back…", "call"),)
    assert long_label in quick.text


def test_card_text_that_does_not_fit_goes_before_the_card_in_full() -> None:
    title = "A title that is a good deal longer than the eighty characters a Messenger card shows"
    lines = ["line one", "line two"]
    parts = render(template(title, lines, buttons=[postback("OK", "ok")]), MESSENGER).parts
    assert parts[0] == TextPart(f"{title}\nline one\nline two")
    card = parts[1]
    assert isinstance(card, CardPart)
    assert len(card.title) <= 80 and card.title.endswith("…") and card.subtitle is None
    assert card.buttons == (Choice("OK", "ok"),)


def test_card_without_a_title_takes_its_first_line() -> None:
    parts = render(template(None, ["Hello", "there"]), MESSENGER).parts
    assert parts == (CardPart("Hello", "there"),)


def test_template_of_only_buttons_on_messenger_is_quick_replies() -> None:
    rendered = render(template(buttons=[postback("Yes", "y"), postback("No", "n")]), MESSENGER)
    assert rendered.parts == (
        QuickRepliesPart("Choose an option:", (Choice("Yes", "y"), Choice("No", "n"))),
    )


def test_form_is_text_on_sms_and_messenger() -> None:
    content = form("Booking", "Table for two", {"date": "2026-12-01", "time": "19:00"})
    expected = (TextPart("Booking\nTable for two\ndate: 2026-12-01\ntime: 19:00"),)
    assert render(content, SMS).parts == expected
    assert render(content, MESSENGER).parts == expected


def test_form_media_is_native_where_possible_else_a_link() -> None:
    content = form(None, None, {"a": "b"}, "https://img.example/f.png")
    assert render(content, MESSENGER).parts == (
        TextPart("a: b"),
        MediaPart(Media("https://img.example/f.png", "image")),
    )
    assert render(content, SMS_NO_MMS).parts == (TextPart("a: b\nhttps://img.example/f.png"),)


def test_video_goes_as_a_file_where_only_files_are_native() -> None:
    files_only = Capabilities(text_limit=500, media=frozenset({"file"}))
    content = basic(
        file("https://v.example/clip.mp4", "video/mp4"), image("https://i.example/a.png")
    )
    assert render(content, files_only).parts == (
        MediaPart(Media("https://v.example/clip.mp4", "file", mime_type="video/mp4")),
        TextPart("https://i.example/a.png"),
    )


def test_a_card_button_label_too_long_for_messenger_is_cut_and_shown_in_full() -> None:
    long_label = "Reschedule my delivery to next week"
    content = MessageContent(
        template=Template(title="Your order", buttons=[postback(long_label, "RESCHEDULE")])
    )
    rendered = render(content, MESSENGER)
    card = next(p for p in rendered.parts if isinstance(p, CardPart))
    [button] = card.buttons
    assert len(button.label) <= 20 and button.label.endswith("…")
    assert isinstance(button, Choice) and button.interaction_id == "RESCHEDULE"
    texts = [p.text for p in rendered.parts if isinstance(p, TextPart)]
    assert any(long_label in text for text in texts)
