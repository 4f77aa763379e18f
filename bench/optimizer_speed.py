"""Benchmark the daily plan on a synthetic portfolio; prints ONE JSON object.

    .venv/bin/python -m bench.optimizer_speed --customers 1000000 --seed 1

``seconds`` is the solve alone (building the synthetic day excluded, as is
the one-off warm-up that loads or compiles the numba kernels). ``peak_rss_mb``
is the process peak after the solve, i.e. input arrays plus solver; the
baselines run afterwards and have their own peak figure.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import optimizer as o
from optimizer.synthetic import synthetic_problem


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    """Parse arguments, solve once (after a warm-up), print the figures."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--parallel", action="store_true", help="kernel on all cores")
    ap.add_argument("--no-baselines", action="store_true")
    args = ap.parse_args()
    params = o.Params(method="scale", parallel=args.parallel, seed=args.seed)

    t = time.perf_counter()
    warm = o.Params(method="scale", marginal_max_customers=0, parallel=args.parallel)
    o.solve(synthetic_problem(3000, seed=99), warm)
    warmup = time.perf_counter() - t

    t = time.perf_counter()
    problem = synthetic_problem(args.customers, seed=args.seed)
    build = time.perf_counter() - t

    t = time.perf_counter()
    cpu = time.process_time()
    plan = o.solve(problem, params, clock=time.perf_counter)
    seconds = time.perf_counter() - t
    cpu_seconds = time.process_time() - cpu
    peak = _peak_mb()
    violations = o.check_plan(problem, plan)

    out: dict[str, object] = {
        "customers": args.customers,
        "channels": problem.n_channels,
        "slots": problem.n_slots,
        "seed": args.seed,
        "seconds": round(seconds, 3),
        # CPU time actually given to the solve: on a shared machine wall time
        # also counts the waits for a core
        "cpu_seconds": round(cpu_seconds, 3),
        "seconds_by_phase": {k: round(v, 3) for k, v in plan.seconds_by_phase.items()},
        "peak_rss_mb": round(peak, 1),
        "objective": round(plan.objective, 2),
        "upper_bound": round(plan.upper_bound, 2),
        "gap_pct": round(100.0 * plan.gap, 6),
        "attempts": int(plan.customer.size),
        "feasible": not violations,
        "violations": violations[:5],
        "voice_minute_price": [round(float(x), 4) for x in plan.voice_minute_price],
        "budget_price": [round(float(x), 4) for x in plan.budget_price],
        "stats": plan.stats,
        "build_input_seconds": round(build, 3),
        "warmup_seconds": round(warmup, 3),
        "parallel": args.parallel,
    }
    if not args.no_baselines:
        t = time.perf_counter()
        rule = o.rule_baseline(problem, params)
        rule_s = time.perf_counter() - t
        t = time.perf_counter()
        greedy = o.greedy_baseline(problem, params)
        greedy_s = time.perf_counter() - t
        out.update(
            rule_baseline_objective=round(rule.objective, 2),
            greedy_objective=round(greedy.objective, 2),
            uplift_over_rule_pct=round(100.0 * (plan.objective / rule.objective - 1.0), 3),
            uplift_over_greedy_pct=round(100.0 * (plan.objective / greedy.objective - 1.0), 3),
            rule_seconds=round(rule_s, 3),
            greedy_seconds=round(greedy_s, 3),
            baselines_feasible=not (o.check_plan(problem, rule) or o.check_plan(problem, greedy)),
            peak_rss_mb_with_baselines=round(_peak_mb(), 1),
        )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
