"""The sign-in rate limit: a sliding window of failures kept in the database, so
that every server process counts the same ones."""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, func, select

from article6.api.auth import LoginRateLimiter, LoginThrottled
from article6.store import workflow_tables as w

KEYS = ["address:1.2.3.4", "user:a"]


def _rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(w.login_failures)) or 0)


def test_window_slides_and_success_clears_the_user(engine: Engine) -> None:
    limiter = LoginRateLimiter(engine, attempts=2, window_s=10)
    limiter.record_failure(KEYS, now=0.0)
    limiter.record_failure(KEYS, now=1.0)
    with pytest.raises(LoginThrottled) as raised:
        limiter.check(KEYS, now=5.0)
    assert raised.value.retry_after_s == 6  # the failure at 0 leaves the window at 10
    limiter.check(KEYS, now=10.5)
    limiter.record_failure(KEYS, now=10.5)
    with pytest.raises(LoginThrottled):
        limiter.check(["user:a"], now=10.6)
    limiter.record_success(["user:a"])
    limiter.check(["user:a"], now=10.6)
    with pytest.raises(LoginThrottled):  # the address still counts its failures
        limiter.check(["address:1.2.3.4"], now=10.6)


def test_limiters_of_separate_processes_share_the_count(engine: Engine) -> None:
    first, second = (LoginRateLimiter(engine, attempts=3, window_s=60) for _ in range(2))
    first.record_failure(["user:a"], now=0.0)
    second.record_failure(["user:a"], now=1.0)
    first.check(["user:a"], now=2.0)
    second.record_failure(["user:a"], now=2.0)
    with pytest.raises(LoginThrottled):
        first.check(["user:a"], now=3.0)


def test_failures_older_than_the_window_are_deleted(engine: Engine) -> None:
    limiter = LoginRateLimiter(engine, attempts=5, window_s=10)
    for moment in range(20):
        limiter.record_failure([f"user:{moment}"], now=float(moment))
    assert _rows(engine) == 10  # those of the last 10 s only


@pytest.mark.parametrize(("attempts", "window_s"), [(0, 10.0), (3, 0.0), (3, -1.0)])
def test_a_limit_that_allows_nothing_is_refused(
    engine: Engine, attempts: int, window_s: float
) -> None:
    with pytest.raises(ValueError, match="attempts"):
        LoginRateLimiter(engine, attempts=attempts, window_s=window_s)


Step = tuple[float, str, bool]  # seconds since the previous step, key, signed in?


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(
        st.tuples(
            st.floats(min_value=0.0, max_value=8.0, allow_nan=False),
            st.sampled_from(["user:a", "user:b"]),
            st.booleans(),
        ),
        max_size=40,
    )
)
def test_no_key_ever_has_more_failures_in_a_window_than_allowed(
    engine: Engine, steps: list[Step]
) -> None:
    """Whatever the sequence of attempts, an attempt goes ahead exactly when its key
    has fewer than `attempts` failures in the last `window_s`, as a plain list says."""
    with engine.begin() as connection:
        connection.execute(delete(w.login_failures))
    attempts, window_s = 3, 20.0
    limiter = LoginRateLimiter(engine, attempts=attempts, window_s=window_s)
    failures: dict[str, list[float]] = defaultdict(list)
    now = 1_000.0
    for pause, key, succeeds in steps:
        now += pause
        recent = [t for t in failures[key] if t > now - window_s]
        allowed = len(recent) < attempts
        try:
            limiter.check([key], now=now)
        except LoginThrottled:
            assert not allowed
            continue
        assert allowed
        if succeeds:
            limiter.record_success([key])
            failures[key] = []
        else:
            limiter.record_failure([key], now=now)
            failures[key].append(now)
        in_window = [t for t in failures[key] if t > now - window_s]
        assert len(in_window) <= attempts
