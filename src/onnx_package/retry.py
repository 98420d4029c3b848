"""Retries with exponential backoff and jitter, bounded in attempts and in total time.

An attempt signals "worth trying again" by raising `Retry` (with the server's Retry-After when it
gave one); anything else it raises goes straight through. `call` gives up with `GaveUp` once the
attempts or the time budget run out.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Policy:
    attempts: int = 5  # tries in all, the first included
    first_delay: float = 1.0  # seconds before the second try; doubles each time
    max_delay: float = 30.0  # no single wait is longer (Retry-After included)
    budget: float = 300.0  # seconds for all tries and waits together
    delays: tuple[float, ...] = ()  # fixed waits after try 1, 2, ... instead of the jittered doubling


PUSH = Policy(attempts=5, first_delay=2.0, max_delay=30.0, budget=900.0)
API = Policy(attempts=5, first_delay=0.5, max_delay=30.0, budget=120.0)
# A download may take long itself: only the attempts bound it.
DOWNLOAD = Policy(attempts=3, delays=(1.0, 3.0), budget=float("inf"))
OIDC = Policy(attempts=3, delays=(1.0, 2.0), budget=float("inf"))


class Retry(Exception):
    """Raised by an attempt that may succeed if tried again."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class GaveUp(Exception):
    """The last reason, after `attempts` tries."""

    def __init__(self, reason: str, attempts: int) -> None:
        super().__init__(f"{reason} (after {attempts} attempt{'s' if attempts > 1 else ''})")
        self.reason = reason
        self.attempts = attempts


def backoff(policy: Policy, attempt: int, retry_after: float | None, rand: Callable[[], float]) -> float:
    """Seconds to wait after failed try number `attempt` (1-based): the policy's fixed delay for it, else half
    to all of the doubled delay."""
    if policy.delays:
        fixed = policy.delays[min(attempt, len(policy.delays)) - 1]
        return max(fixed, retry_after) if retry_after is not None else fixed
    exponential = min(policy.max_delay, policy.first_delay * 2.0 ** (attempt - 1))
    delay = exponential * (0.5 + rand() / 2)
    return max(delay, retry_after) if retry_after is not None else delay


def progress(say: Callable[[str], None], policy: Policy | None = None) -> Callable[[Retry, float, int], None]:
    """The progress line of each retry: why, and how long it waits (and which attempt comes, given the policy)."""

    def on_retry(err: Retry, delay: float, number: int) -> None:
        attempt = f" (attempt {number + 1} of {policy.attempts})" if policy else ""
        say(f"    {err.reason}; retrying in {delay:.1f} s{attempt}")

    return on_retry


def call(
    attempt: Callable[[], T],
    policy: Policy,
    on_retry: Callable[[Retry, float, int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rand: Callable[[], float] = random.random,
) -> T:
    """Run `attempt` until it returns, raises something other than Retry, or the policy runs out."""
    start = clock()
    number = 1
    while True:
        try:
            return attempt()
        except Retry as err:
            delay = backoff(policy, number, err.retry_after, rand)
            if number >= policy.attempts:
                raise GaveUp(err.reason, number) from err
            if delay > policy.max_delay:
                raise GaveUp(
                    f"{err.reason}; it asks to wait {delay:.0f} s (Retry-After), more than the "
                    f"{policy.max_delay:.0f} s this run waits",
                    number,
                ) from err
            if clock() - start + delay > policy.budget:
                raise GaveUp(
                    f"{err.reason}; another try would pass the retry budget of {policy.budget:.0f} s", number
                ) from err
            if on_retry:
                on_retry(err, delay, number)
            sleep(delay)
            number += 1


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_retry_after(value: str | None, now: Callable[[], datetime] = utc_now) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now()).total_seconds())
