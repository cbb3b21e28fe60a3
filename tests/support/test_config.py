"""The config builder writes every key the daemon reads, as the daemon reads it."""

from __future__ import annotations

import dataclasses

from gateway.config import DeliverySection, GatewaySection
from tests.support.config import (
    Agent,
    GatewayConfig,
    Webhook,
    channel,
    messenger_channel,
    twilio_channel,
    webchat_channel,
)


def test_every_gateway_and_delivery_key_has_a_field() -> None:
    """A key added to [gateway] or [delivery] is one the builder can set too."""
    fields = {f.name for f in dataclasses.fields(GatewayConfig)}
    keys = set(GatewaySection.model_fields) | set(DeliverySection.model_fields)
    assert keys - fields == set()


def test_a_config_with_every_section_reads_back_as_written() -> None:
    config = GatewayConfig(
        database_url="postgresql://shop@db.example:5432/inbox",
        database_poll_seconds=45.0,
        listen="0.0.0.0:8443",
        public_url="https://inbox.example.com",
        business_name='The "Quoted" Shop \\ Café',
        business_image_url="https://inbox.example.com/logo.png",
        max_body_bytes=2048,
        shutdown_grace=2.5,
        trusted_proxies=["10.0.0.0/8"],
        tokens={"crm": "a-token-of-sixteen-chars", "shop": "another-token-0123456"},
        agents=[Agent.with_password("alice", "pw", display_name="Alice")],
        channels=[
            twilio_channel(rate_per_second=2.5),
            messenger_channel(human_agent_tag=True),
            webchat_channel(allowed_origins=["https://shop.example"]),
            channel("mail", "echo", outbox_label="mail", limits={"text": 50}),
        ],
        retry_delays=[0.5, 1],
        workers=8,
        webhooks=[
            Webhook("https://crm.example/hook", "s3cret", ["message_sent_to_business"]),
            Webhook("https://audit.example/hook", "other"),
        ],
    )
    parsed = config.parse()
    gateway = parsed.gateway
    assert (gateway.listen, gateway.public_url) == ("0.0.0.0:8443", "https://inbox.example.com")
    assert gateway.business_name == 'The "Quoted" Shop \\ Café'
    assert (gateway.max_body_bytes, gateway.shutdown_grace) == (2048, 2.5)
    assert gateway.trusted_proxies == ["10.0.0.0/8"]
    assert (parsed.database.url, parsed.database.poll_seconds) == (config.database_url, 45.0)
    assert {t.name: t.token for t in parsed.api.tokens} == dict(config.tokens)
    [agent] = parsed.agents
    assert (agent.username, agent.display_name) == ("alice", "Alice")
    assert agent.password_hash.startswith("$argon2id$")
    assert (parsed.delivery.retry_delays, parsed.delivery.workers) == ([0.5, 1], 8)
    assert parsed.channels["sms"]["rate_per_second"] == 2.5
    assert parsed.channels["fb"]["human_agent_tag"] is True
    assert parsed.channels["chat"]["allowed_origins"] == ["https://shop.example"]
    assert parsed.channels["mail"] == {
        "type": "echo",
        "outbox_label": "mail",
        "limits": {"text": 50},
    }
    crm, audit = parsed.webhooks
    assert crm.events == ["message_sent_to_business"]
    assert len(audit.events) > 1  # every event


def test_listen_alone_gives_the_public_url() -> None:
    config = GatewayConfig().on_port(8123)
    assert config.parse().gateway.public_url == "http://127.0.0.1:8123" == config.url
