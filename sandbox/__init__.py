"""Real components on this machine for tests and demos: ``cadencia sandbox``.

``asterisk``: a real Asterisk 22 in a cached Debian root (see its docstring);
``cli``: the typer app the main CLI mounts as ``cadencia sandbox``.
"""
