"""retry.call: exponential backoff with jitter, Retry-After, bounded in attempts and time."""

from datetime import UTC, datetime, timedelta

import pytest

from onnx_package import retry

POLICY = retry.Policy(attempts=4, first_delay=1.0, max_delay=10.0, budget=60.0)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def flaky(failures: list[retry.Retry | Exception]):
    calls = []

    def attempt() -> str:
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return "ok"

    return attempt, calls


def run(attempt, policy=POLICY, rand=lambda: 1.0):
    clock = Clock()
    return retry.call(attempt, policy, sleep=clock.sleep, clock=lambda: clock.now, rand=rand), clock


def test_waits_double_after_each_failure_then_succeeds():
    attempt, calls = flaky([retry.Retry("500"), retry.Retry("reset"), retry.Retry("429")])
    value, clock = run(attempt)
    assert value == "ok" and len(calls) == 4
    assert clock.waits == [1.0, 2.0, 4.0]


def test_jitter_keeps_between_half_and_all_of_the_delay():
    for rand in (0.0, 0.5, 0.999):
        for attempt in (1, 2, 3, 6):
            delay = retry.backoff(POLICY, attempt, None, lambda rand=rand: rand)
            full = min(POLICY.max_delay, POLICY.first_delay * 2 ** (attempt - 1))
            assert full / 2 <= delay <= full


def test_retry_after_is_honoured():
    attempt, _ = flaky([retry.Retry("429", retry_after=7.0)])
    _, clock = run(attempt)
    assert clock.waits == [7.0]


def test_gives_up_after_the_attempts_with_the_last_reason():
    attempt, calls = flaky([retry.Retry(f"500 #{n}") for n in range(10)])
    with pytest.raises(retry.GaveUp) as caught:
        run(attempt)
    assert len(calls) == POLICY.attempts
    assert caught.value.reason == "500 #3" and "after 4 attempts" in str(caught.value)


def test_gives_up_when_the_time_budget_would_be_exceeded():
    policy = retry.Policy(attempts=10, first_delay=4.0, max_delay=8.0, budget=10.0)
    attempt, calls = flaky([retry.Retry("503") for _ in range(10)])
    with pytest.raises(retry.GaveUp, match="pass the retry budget of 10 s"):
        run(attempt, policy)
    assert len(calls) == 2  # waited 4, the next 8 would pass 10 s


def test_a_retry_after_longer_than_any_wait_gives_up_at_once():
    attempt, calls = flaky([retry.Retry("429", retry_after=3600)])
    with pytest.raises(retry.GaveUp, match="asks to wait 3600 s"):
        run(attempt)
    assert len(calls) == 1


def test_other_errors_are_not_retried():
    attempt, calls = flaky([PermissionError("401")])
    with pytest.raises(PermissionError):
        run(attempt)
    assert len(calls) == 1


@pytest.mark.parametrize(("value", "seconds"), [("3", 3.0), (" 120 ", 120.0), (None, None), ("", None), ("soon", None)])
def test_retry_after_seconds(value, seconds):
    assert retry.parse_retry_after(value) == seconds


def test_retry_after_http_date():
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    later = (now + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert retry.parse_retry_after(later, now=lambda: now) == 30.0
    earlier = (now - timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert retry.parse_retry_after(earlier, now=lambda: now) == 0.0


def test_fixed_delays_replace_the_jittered_doubling():
    attempt, calls = flaky([retry.Retry("500"), retry.Retry("reset")])
    value, clock = run(attempt, policy=retry.DOWNLOAD, rand=lambda: 0.0)
    assert value == "ok" and len(calls) == 3 and clock.waits == [1.0, 3.0]
    attempt, _ = flaky([retry.Retry("500")] * 3)
    with pytest.raises(retry.GaveUp, match=r"500 \(after 3 attempts\)"):
        run(attempt, policy=retry.OIDC)
