"""Flow control per key: what a kind declares, and the names both sides of a gate share.

    @job(concurrency=PerKey("customer_id", limit=1))      # at most 1 running per customer
    @job(debounce=Debounce("customer_id", wait="30s"))    # once, with the latest input, after 30 s of quiet
    @job(throttle=Throttle("customer_id", every="10m"))   # at most once per 10 minutes per customer

- Concurrency: at most `limit` jobs of the kind with the same key run at once; the others wait, in the order they
  arrived, in a small gate workflow of their key (`workflows.flow_gate`). The key is an input field's name (so a
  producer in any language, the CLI and `temporal workflow start` are limited alike) or a function of the
  validated input, run where the job runs (the worker imports the kind; a function never goes through JSON).
- Debounce and throttle: enqueueing offers the input to its key's gate instead of starting a job; the gate starts
  the job (with the latest input offered) when its timer says so. The key is computed by the producer at enqueue.

Here, beside the contracts, because producers, workers, `status` and the gate all read it: pydantic and stdlib only.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

WAITING_MEMO = "flow_waiting"
"""Memo of a job waiting at its gate: its key, removed once it holds a slot. In the memo so that `list` and `stats`
tell a waiting job (`queued`) from a running one by its description alone."""
GATE_MEMO = "flow_gate"
"""Memo of a limited job: the id of its key's gate, which `status` asks how many wait before it."""

ENTER_SIGNAL, LEAVE_SIGNAL, GRANTED_SIGNAL, OFFER_SIGNAL = "flow-enter", "flow-leave", "flow-granted", "flow-offer"
"""A job enters its gate (signal-with-start), the gate grants it a slot, the job leaves (completed, failed or
cancelled), freeing the slot for the next in line. A producer offers a debounced or throttled job's input."""
AHEAD_QUERY = "ahead"
"""The gate's answer to "how many jobs wait before this one" (None: it holds a slot, or the gate never saw it)."""


KeyOf = str | Callable[[Any], Any]
"""An input field's name (`"customer_id"`), or a function of the validated input model returning the key
(`lambda job: job.account.id`). Its `str()` is the key; an empty or None key is no key (no flow control)."""


def key_of(key: KeyOf, job: BaseModel) -> str | None:
    """The key of a validated job: None when the field or function gives None or an empty value."""
    value = key(job) if callable(key) else getattr(job, key)
    text = "" if value is None else str(value)
    return text or None


def _check_key(key: KeyOf, what: str) -> None:
    if not (callable(key) or (isinstance(key, str) and key.isidentifier())):
        raise ValueError(f"{what} key must be an input field's name or a function of the input, not {key!r}")


@dataclass(frozen=True)
class PerKey:
    """At most `limit` jobs of a kind with the same key run at once; the rest wait in arrival order."""

    key: KeyOf
    limit: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 1:
            raise ValueError(f"PerKey limit must be a whole number >= 1, not {self.limit!r}")
        _check_key(self.key, "PerKey")

    def key_of(self, job: BaseModel) -> str | None:
        """The key of a validated job (None: not limited)."""
        return key_of(self.key, job)


class Timing(StrEnum):
    """What a gate does with the jobs of its key."""

    SLOTS = "slots"
    """Concurrency: grants slots to jobs that started (`PerKey`)."""
    DEBOUNCE = "debounce"
    """Starts one job with the latest input once no input came for `wait`."""
    THROTTLE = "throttle"
    """Starts a job at once, then at most one per `wait` (the latest input offered meanwhile)."""


def _positive(value: timedelta, what: str) -> None:
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise ValueError(f"{what} must be a positive timedelta, not {value!r}")


@dataclass(frozen=True)
class Debounce:
    """Run once, with the latest input, after `wait` without a new one for the same key."""

    key: KeyOf
    wait: timedelta

    def __post_init__(self) -> None:
        _check_key(self.key, "Debounce")
        _positive(self.wait, "Debounce wait")

    timing = Timing.DEBOUNCE

    @property
    def window(self) -> timedelta:
        """How long the gate's timer runs."""
        return self.wait


@dataclass(frozen=True)
class Throttle:
    """At most one job per `every` for the same key: the first at once, then, if more came meanwhile, one with the
    latest input when the window ends (leading and trailing)."""

    key: KeyOf
    every: timedelta

    def __post_init__(self) -> None:
        _check_key(self.key, "Throttle")
        _positive(self.every, "Throttle every")

    timing = Timing.THROTTLE

    @property
    def window(self) -> timedelta:
        """How long the gate's timer runs."""
        return self.every


GATE_KEY_LIMIT = 200
"""Keys longer than this are shortened (with a digest) in the gate's id; the gate still names the key in full."""


def gate_id(kind: str, key: str, timing: Timing = Timing.SLOTS) -> str:
    """The id of the gate workflow of `kind`'s jobs with `key`: `flow-<kind>-<key>` (slots) or
    `flow-<kind>.debounce-<key>`, readable in the web UI (a kind's name has no `.` or `-`)."""
    safe = re.sub(r"[^A-Za-z0-9_.:@+=-]", "_", key)
    if safe != key or len(safe) > GATE_KEY_LIMIT:
        safe = f"{safe[:60]}~{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    return f"flow-{kind}-{safe}" if timing is Timing.SLOTS else f"flow-{kind}.{timing.value}-{safe}"


class Offer(BaseModel):
    """A debounced or throttled job's input, offered to its key's gate, and how to start the job."""

    job: Any
    """The validated, prepared input, as JSON."""
    workflow_type: str
    task_queue: str


class GateState(BaseModel):
    """What a gate workflow carries across continue-as-new: its limit, the jobs holding slots, those waiting; or
    its timer's length, the latest input offered and the jobs it started."""

    kind: str
    key: str
    limit: int = 1
    holders: list[str] = []
    waiting: list[str] = []
    timing: Timing = Timing.SLOTS
    window: timedelta = timedelta(0)
    pending: Offer | None = None
    offers: int = 0
    """Inputs offered to this gate in all (each job started ran the latest of them)."""
    started: list[str] = []
    """The jobs it started, latest last (at most `STARTED_KEPT`)."""


STARTED_KEPT = 20
"""How many started job ids a debounce or throttle gate keeps in its state (and result)."""


class Entry(BaseModel):
    """A job entering its gate."""

    job_id: str
    limit: int
