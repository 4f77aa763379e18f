"""The agent's side of a call, shared by the dial session and the console.

``events``: the agent-event contract over Redis (connect, complete, state),
which the dialing code publishes and the console subscribes to.
``disposition``: what an agent records after a call, validated and saved.
"""
