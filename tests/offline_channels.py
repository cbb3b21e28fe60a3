"""The three built-in channels pointed at a closed port, for tests that never reach a provider.

Nothing listens on port 9 of the loopback, so a send fails and waits for its next retry: with
long `retry_delays`, deliveries stay PENDING while a test looks at them.
"""

from __future__ import annotations


def offline_channels(*, human_agent_tag: bool) -> str:
    """`[channels.chat]`, `[channels.sms]` and `[channels.fb]` tables."""
    return f"""
[channels.chat]
type = "webchat"
allowed_origins = ["http://127.0.0.1"]

[channels.sms]
type = "twilio"
account_sid = "AC00000000000000000000000000000000"
auth_token = "secret"
from_number = "+15550001111"
api_base_url = "http://127.0.0.1:9"

[channels.fb]
type = "messenger"
page_id = "1234"
page_access_token = "token"
app_secret = "secret"
verify_token = "verify"
graph_base_url = "http://127.0.0.1:9"
human_agent_tag = {str(human_agent_tag).lower()}
"""
