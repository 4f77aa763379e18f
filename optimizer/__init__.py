"""The daily contact plan: value model, exact and scale solvers, baselines.

Pure: arrays and dataclasses in, a plan out (OR-Tools for the exact path,
Lagrangian decomposition for scale). No I/O, no clock reads.
May import: third-party libraries only. Never ``campaigns``, ``compliance``,
``dialer`` or ``channels``.
"""
