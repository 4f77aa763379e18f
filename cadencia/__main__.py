"""``python -m cadencia``: the ``cadencia`` command, for processes spawned without the script."""

from cadencia.cli import app

app()
