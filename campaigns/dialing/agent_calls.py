"""The dial session's calls with agents, published as agent events: the screen pop's source.

``AgentCallPublisher`` is the ``dialer.session.CallObserver`` the dial-session
job hands its ``DialSession``: when one of the session's calls reaches an agent
(Asterisk's ``AgentConnect``) it publishes ``connect`` with the customer, the
attempt, the run and the campaign (``campaigns.agents.events``); when that
conversation ends it publishes ``complete``. The console subscribes in the
same namespace (``CADENCIA_AGENT_NAMESPACE``), pops the customer on the agent's
desktop and, on ``complete``, pauses the agent's queue member for wrap-up.

Publishing is best effort by design: a Redis outage costs the agent a screen
pop, never a call or a ledger row. The session logs what this raises.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from campaigns.agents.events import NAMESPACE, AgentEvent, publish_agent_event
from dialer.session import ConnectedCall

# A dead Redis must fail a notification fast: the session waits for its last ones.
SOCKET_TIMEOUT_S = 2.0


@dataclass
class AgentCallPublisher:
    """Publishes the session's agent connects and completes on Redis (sync client)."""

    client: redis.Redis
    run_id: int
    campaign: str
    namespace: str = NAMESPACE

    @classmethod
    def from_url(
        cls, redis_url: str, *, run_id: int, campaign: str, namespace: str = NAMESPACE
    ) -> AgentCallPublisher:
        """A publisher with its own connection, whose timeouts are short."""
        client = redis.Redis.from_url(
            redis_url, socket_timeout=SOCKET_TIMEOUT_S, socket_connect_timeout=SOCKET_TIMEOUT_S
        )
        return cls(client, run_id, campaign, namespace)

    def connected(self, call: ConnectedCall) -> None:
        """Publish ``connect``: the console pops ``call.customer_id`` on the agent's desktop."""
        self._publish("connect", call)

    def completed(self, call: ConnectedCall) -> None:
        """Publish ``complete``: the console starts the agent's wrap-up."""
        self._publish("complete", call)

    def close(self) -> None:
        """Close the connection."""
        self.client.close()

    def _publish(self, kind: str, call: ConnectedCall) -> None:
        event = AgentEvent(
            kind,
            call.agent,
            call.at,
            customer_id=call.customer_id,
            attempt_id=call.attempt_id,
            run_id=self.run_id,
            campaign=self.campaign,
        )
        publish_agent_event(self.client, event, namespace=self.namespace)
