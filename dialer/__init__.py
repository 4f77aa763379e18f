"""Predictive dialing: pacing, call state, the AMI client, the dial session.

Pure pacing and call-state logic; the AMI client adapter (asyncio); the
dial-session loop, which talks to its hopper, guard and outcome sink
through small interfaces this package defines; a discrete-event simulator.
May import: third-party libraries only. Never ``campaigns``, ``compliance``,
``optimizer`` or ``channels``.
"""
