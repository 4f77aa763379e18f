"""The web console: agent desktop, campaign dashboard and compliance pages (``cadencia web``)."""

from campaigns.web.app import create_web_app
from campaigns.web.events import AgentEvent, publish_agent_event, subscribe_agent_events

__all__ = ["AgentEvent", "create_web_app", "publish_agent_event", "subscribe_agent_events"]
