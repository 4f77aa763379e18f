"""Fixtures: the provider stand-in and a webhook receiver, both over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.providers import StandinHandle, WebhookMix, start_standin
from tests.channels.receiver import Receiver


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    """Where the stand-in posts its webhooks."""
    r = Receiver()
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture()
def provider() -> Iterator[StandinHandle]:
    """A fresh stand-in for SendGrid and Twilio; no random replies, fast webhooks."""
    handle = start_standin(
        mix=WebhookMix(bounced=0.0, opened=0.0, failed=0.0, replied=0.0), webhook_delay_s=0.05
    )
    try:
        yield handle
    finally:
        handle.stop()
