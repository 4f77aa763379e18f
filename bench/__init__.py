"""Benchmarks: each module prints one JSON object. Run from the repository root as modules,
``.venv/bin/python -m bench.NAME --help``; ``tests/bench`` runs each once at a tiny size."""
