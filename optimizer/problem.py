"""The optimisation problem, its parameters and the plan, as plain arrays.

Shapes use N customers, C channels and T hour slots of the campaign day.
An *item* ``(c, t)`` is one attempt through channel ``c`` in slot ``t``; the
kernel encodes it as the integer ``c * T + t``.

Model (per day, per campaign), with binary ``x[i, c, t]``:

* ``x[i, c, t] = 0`` unless ``allowed[i, c, t]``;
* ``sum_{c,t} x[i, c, t] <= max_attempts[i]`` and
  ``sum_t x[i, c, t] <= max_per_channel[i, c]``;
* at most one attempt per customer per slot: ``sum_c x[i, c, t] <= 1``;
* voice capacity per slot, in agent-minutes:
  ``sum_i handle_minutes[i] * x[i, voice, t] <= agents[t] * slot_minutes * occupancy``;
* daily budget per channel: ``budget_per_attempt[c] * sum_{i,t} x[i, c, t] <= budget[c]``.

Objective: for each customer with chosen set ``S``, the most valuable attempt
counts in full and every further attempt counts ``repeat_value_factor`` of its
value (a second contact the same day mostly repeats the first); every attempt
pays ``cost[c]``::

    f_i(S) = max_{j in S} v_j + repeat_value_factor * sum_{j in S, j != argmax} v_j
             - sum_{j in S} cost[c_j]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I8 = npt.NDArray[np.int8]
I16 = npt.NDArray[np.int16]
I32 = npt.NDArray[np.int32]
U8 = npt.NDArray[np.uint8]
B = npt.NDArray[np.bool_]

#: Most attempts one customer can receive in a day; the kernel's fixed width.
MAX_ATTEMPTS_PER_DAY = 8


class ProblemError(ValueError):
    """A Problem whose arrays are inconsistent; the message names the field."""


@dataclass(frozen=True)
class Problem:
    """One campaign day. All arrays are C-contiguous numpy arrays.

    Attributes:
        value: float32 ``[N, C, T]``, currency units. Expected value of a first
            attempt (see ``optimizer.value``); finite and ``>= 0``.
        allowed: bool ``[N, C, T]``. From compliance: local calling hours,
            consent, lockouts. ``False`` forbids the item outright.
        max_attempts: uint8 ``[N]``. Attempts allowed today, all channels
            (``A[i]``, from the compliance allowances); at most 8.
        max_per_channel: uint8 ``[N, C]``. Attempts allowed today per channel
            (``a[i, c]``, from the compliance allowances).
        handle_minutes: float32 ``[N]``, agent-minutes consumed by one voice
            attempt (ring + talk + wrap, times the live-answer probability).
        cost: float64 ``[C]``, currency units per attempt.
        agents: float64 ``[T]``, agents staffed in each slot (may be 0).
        budget: float64 ``[C]``, daily budget per channel in budget units
            (money or provider volume); ``np.inf`` means unlimited.
        budget_per_attempt: float64 ``[C]``, budget units one attempt uses.
        voice_channel: index of the voice channel in ``C``, or -1 if none.
        occupancy: target agent occupancy in (0, 1].
        slot_minutes: length of one slot in minutes (60 for hourly slots).
        channel_names: one name per channel, for explanations.
    """

    value: F32
    allowed: B
    max_attempts: U8
    max_per_channel: U8
    handle_minutes: F32
    cost: F64
    agents: F64
    budget: F64
    budget_per_attempt: F64
    voice_channel: int = 0
    occupancy: float = 0.85
    slot_minutes: float = 60.0
    channel_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def n_customers(self) -> int:
        """N."""
        return int(self.value.shape[0])

    @property
    def n_channels(self) -> int:
        """C."""
        return int(self.value.shape[1])

    @property
    def n_slots(self) -> int:
        """T."""
        return int(self.value.shape[2])

    def voice_capacity(self) -> F64:
        """Agent-minutes available per slot: ``agents * slot_minutes * occupancy``."""
        return np.asarray(self.agents * self.slot_minutes * self.occupancy, dtype=np.float64)

    def channel_name(self, c: int) -> str:
        """Human name of channel ``c``."""
        return self.channel_names[c] if c < len(self.channel_names) else f"channel {c}"

    def subset(self, customers: npt.NDArray[np.int64]) -> Problem:
        """The same day restricted to some customers (capacities unchanged)."""
        return Problem(
            value=np.ascontiguousarray(self.value[customers]),
            allowed=np.ascontiguousarray(self.allowed[customers]),
            max_attempts=np.ascontiguousarray(self.max_attempts[customers]),
            max_per_channel=np.ascontiguousarray(self.max_per_channel[customers]),
            handle_minutes=np.ascontiguousarray(self.handle_minutes[customers]),
            cost=self.cost,
            agents=self.agents,
            budget=self.budget,
            budget_per_attempt=self.budget_per_attempt,
            voice_channel=self.voice_channel,
            occupancy=self.occupancy,
            slot_minutes=self.slot_minutes,
            channel_names=self.channel_names,
        )


def _check(arr: object, name: str, dtype: type, shape: tuple[int, ...]) -> None:
    if not isinstance(arr, np.ndarray):
        raise ProblemError(f"Problem.{name}: expected a numpy array, got {type(arr).__name__}")
    if arr.dtype != np.dtype(dtype):
        raise ProblemError(f"Problem.{name}: dtype must be {np.dtype(dtype)}, got {arr.dtype}")
    if arr.shape != shape:
        raise ProblemError(f"Problem.{name}: shape must be {shape}, got {arr.shape}")
    if not arr.flags.c_contiguous:
        raise ProblemError(f"Problem.{name}: must be C-contiguous (use np.ascontiguousarray)")


def _validate(p: Problem) -> None:
    if not isinstance(p.value, np.ndarray) or p.value.ndim != 3:
        raise ProblemError("Problem.value: expected a float32 array of shape [N, C, T]")
    n, c, t = p.value.shape
    _check(p.value, "value", np.float32, (n, c, t))
    _check(p.allowed, "allowed", np.bool_, (n, c, t))
    _check(p.max_attempts, "max_attempts", np.uint8, (n,))
    _check(p.max_per_channel, "max_per_channel", np.uint8, (n, c))
    _check(p.handle_minutes, "handle_minutes", np.float32, (n,))
    for name in ("cost", "budget", "budget_per_attempt"):
        _check(getattr(p, name), name, np.float64, (c,))
    _check(p.agents, "agents", np.float64, (t,))
    if c == 0 or t == 0:
        raise ProblemError(f"Problem.value: needs at least one channel and one slot, got {c}x{t}")
    if t > 62:
        raise ProblemError(f"Problem.value: at most 62 slots per day, got {t}")
    if n and not (np.isfinite(p.value).all() and (p.value >= 0).all()):
        bad = int(np.argmax(~(np.isfinite(p.value) & (p.value >= 0)).reshape(n, -1).any(1)))
        raise ProblemError(f"Problem.value: must be finite and >= 0 (customer index {bad})")
    if n and int(p.max_attempts.max()) > MAX_ATTEMPTS_PER_DAY:
        bad = int(np.argmax(p.max_attempts > MAX_ATTEMPTS_PER_DAY))
        raise ProblemError(
            f"Problem.max_attempts: at most {MAX_ATTEMPTS_PER_DAY} per day (customer index {bad})"
        )
    if n and not (np.isfinite(p.handle_minutes).all() and (p.handle_minutes >= 0).all()):
        raise ProblemError("Problem.handle_minutes: must be finite and >= 0")
    if not (np.isfinite(p.cost).all() and (p.cost >= 0).all()):
        raise ProblemError("Problem.cost: must be finite and >= 0")
    if not (np.isfinite(p.agents).all() and (p.agents >= 0).all()):
        raise ProblemError("Problem.agents: must be finite and >= 0")
    if np.isnan(p.budget).any() or (p.budget < 0).any():
        raise ProblemError("Problem.budget: must be >= 0 (np.inf for unlimited)")
    if not (np.isfinite(p.budget_per_attempt).all() and (p.budget_per_attempt >= 0).all()):
        raise ProblemError("Problem.budget_per_attempt: must be finite and >= 0")
    if not -1 <= p.voice_channel < c:
        raise ProblemError(
            f"Problem.voice_channel: must be -1 or in [0, {c}), got {p.voice_channel}"
        )
    if not 0 < p.occupancy <= 1:
        raise ProblemError(f"Problem.occupancy: must be in (0, 1], got {p.occupancy}")
    if not p.slot_minutes > 0:
        raise ProblemError(f"Problem.slot_minutes: must be > 0, got {p.slot_minutes}")
    if p.channel_names and len(p.channel_names) != c:
        raise ProblemError(f"Problem.channel_names: expected {c} names, got {len(p.channel_names)}")


@dataclass(frozen=True)
class Params:
    """Solver settings.

    Attributes:
        repeat_value_factor: share of its value that every attempt after the
            customer's most valuable one keeps (diminishing returns), in [0, 1].
        method: ``"auto"`` (exact below ``exact_max_items`` allowed items,
            else scale), ``"exact"`` or ``"scale"``.
        exact_max_items: size threshold of ``"auto"``, in allowed items.
        gap_tolerance: relative gap at which the price search stops.
        max_iterations: price-search iterations on the full population.
        usage_tolerance: the full price search stops once every priced
            constraint's use is within this share of its capacity.
        bundle_iterations: most cutting-plane steps per population (sample,
            then everyone) when Newton leaves a constraint off balance.
        sample_size: customers in the sample that refines the warm-start
            prices and measures how each constraint's use responds to prices.
        sample_size_rough: customers in the first, rough price search.
        parallel: run the kernel on all cores (only pays on an idle machine).
        marginal_max_customers: largest exact (MIP) pass over the customers
            whose choice is sensitive to the prices; 0 disables it.
        exact_time_limit_s: OR-Tools time limit of the exact path's MIP.
        marginal_time_limit_s: OR-Tools time limit of the scale path's exact pass.
        seed: seeds the warm-start sample (results are deterministic).
    """

    repeat_value_factor: float = 0.5
    method: str = "auto"
    exact_max_items: int = 2000
    gap_tolerance: float = 1e-4
    max_iterations: int = 8
    usage_tolerance: float = 1.5e-2
    bundle_iterations: int = 150
    sample_size: int = 50_000
    sample_size_rough: int = 10_000
    parallel: bool = False
    marginal_max_customers: int = 300
    exact_time_limit_s: float = 60.0
    marginal_time_limit_s: float = 5.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.repeat_value_factor <= 1.0:
            raise ValueError(
                f"Params.repeat_value_factor: must be in [0, 1], got {self.repeat_value_factor}"
            )
        if self.method not in ("auto", "exact", "scale"):
            raise ValueError(f"Params.method: 'auto', 'exact' or 'scale', got {self.method!r}")
        if self.gap_tolerance < 0 or self.max_iterations < 1 or self.sample_size < 1:
            raise ValueError("Params: gap_tolerance >= 0, max_iterations >= 1, sample_size >= 1")


@dataclass(frozen=True)
class Plan:
    """The chosen attempts, their worth and the prices of the coupling constraints.

    Attempts are flat arrays sorted by customer, then by ``rank`` (0 = the
    customer's most valuable attempt, dialled with priority).

    Attributes:
        customer: int32 ``[K]`` customer index of each attempt.
        channel: int8 ``[K]`` channel index.
        slot: int8 ``[K]`` slot index.
        rank: int8 ``[K]`` priority within the customer (0 first).
        objective: ``sum_i f_i(S_i)``, currency units.
        upper_bound: proven upper bound on the optimum (>= objective).
        gap: ``(upper_bound - objective) / max(|upper_bound|, 1e-9)``.
        voice_minute_price: float64 ``[T]`` shadow price of one agent-minute
            per slot (currency per minute); 0 without voice.
        budget_price: float64 ``[C]`` shadow price of one budget unit.
        method: ``"exact"`` or ``"scale"``.
        stats: solver statistics (iterations, repaired attempts, ...).
        seconds_by_phase: wall time per phase when ``solve`` got a clock.
        slot_minutes, occupancy: copied from the Problem (for ``agent_hour_value``).
        repeat_value_factor: the diminishing-returns factor the plan was made with.
    """

    customer: I32
    channel: I8
    slot: I8
    rank: I8
    objective: float
    upper_bound: float
    gap: float
    voice_minute_price: F64
    budget_price: F64
    method: str
    stats: dict[str, float | int | str] = field(default_factory=dict)
    seconds_by_phase: dict[str, float] = field(default_factory=dict)
    slot_minutes: float = 60.0
    occupancy: float = 0.85
    repeat_value_factor: float = 0.5

    @property
    def agent_hour_value(self) -> F64:
        """Value of one more agent for one hour in each slot (currency)."""
        return np.asarray(self.voice_minute_price * 60.0 * self.occupancy, dtype=np.float64)

    def attempts_of(self, i: int) -> list[tuple[int, int]]:
        """The (channel, slot) attempts of customer ``i``, in priority order."""
        lo, hi = np.searchsorted(self.customer, [i, i + 1])
        return [(int(self.channel[k]), int(self.slot[k])) for k in range(lo, hi)]
