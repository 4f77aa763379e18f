"""``python -m campaigns``: the ``cadencia`` command, for processes spawned without the script."""

from campaigns.cli import app

app()
