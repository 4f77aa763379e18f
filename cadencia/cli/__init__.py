"""The ``cadencia`` command line: ``app`` assembles the command groups.

``_common``: the helpers every group shares (errors, JSON output, settings,
a ready engine). Each other module is one command group; none imports
another's commands or this package's ``__init__``.
"""

from cadencia.cli.app import app

__all__ = ["app"]
