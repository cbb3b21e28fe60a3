"""Extra sessions of the hostile suite's agent, for requests that end the session they carry."""

from __future__ import annotations

from gateway.web.inbox.auth import SESSIONS, find_agent, password_tag
from tests.hostile.conftest import AGENT, Live


def spare_session(live: Live) -> str:
    """A new session cookie of the agent (opened directly: no login, so no login limit)."""
    app = live.thread.live.app

    async def open_one() -> str:
        agent = find_agent(app, AGENT)
        assert agent is not None
        return await app[SESSIONS].store.open(agent.username, await password_tag(app, agent))

    return live.thread.run(open_one())
