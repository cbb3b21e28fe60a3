"""Every way a customer ends up opted out tells the agents so in a BUSINESS system note."""

from __future__ import annotations

from adapters.twilio.fake import FakeTwilio
from tests.e2e.conftest import Api, http, sms_api
from tests.e2e.test_sms_e2e import customer_texts, system_notes, text
from tests.support.polling import eventually

# the fixtures this module borrows from the end-to-end suite
__all__ = ["http", "sms_api"]


async def test_a_send_refused_with_21610_opts_the_customer_out_with_a_note(
    sms_api: Api, twilio: FakeTwilio
) -> None:
    conversation_id = await customer_texts(sms_api, twilio, "Hi")
    twilio.fail_next(code=21610, status=400)
    message = await sms_api.send_ok(conversation_id, text("Our sale starts today"))
    await sms_api.delivery_status(message["id"], "FAILED")
    conversation = await sms_api.only_conversation()
    contact = await sms_api.contact(conversation["participant"]["contactId"])
    assert contact["optedOut"] == ["sms"]
    notes = await eventually(lambda: system_notes(sms_api, conversation_id))
    assert any("opted out" in note and "sms" in note for note in notes), notes
    assert any("could not be delivered" in note for note in notes), notes
