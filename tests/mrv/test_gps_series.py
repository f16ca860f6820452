"""The GPS kernel's short-step lengths: series within a few ulps of the library.

The kernel measures most steps with short series (``gps_numba.step_km``)
instead of the library's sine, cosine and arcsine that the engines' SQL
uses. A rule must still decide exactly as the engines do: whenever a length
by series is close to a limit, the kernel measures it again exactly, so
outside that margin both lengths must lie on the same side of the limit.
"""

from __future__ import annotations

import math

from hypothesis import example, given, settings
from hypothesis import strategies as st

from article6.mrv import gps_numba as k

# Latitudes and longitudes of the region and beyond it (the series give way to
# the library functions far from the equator and for long steps).
latitudes = st.floats(min_value=-80.0, max_value=80.0, allow_nan=False)
longitudes = st.floats(min_value=-180.0, max_value=180.0, allow_nan=False)
offsets = st.one_of(
    st.floats(min_value=-1e-4, max_value=1e-4),  # a few metres: most pings
    st.floats(min_value=-0.02, max_value=0.02),  # a couple of km
    st.floats(min_value=-0.3, max_value=0.3),  # past the series' range
)


def _lengths(lat: float, lon: float, lat2: float, lon2: float) -> tuple[float, float]:
    """The kernel's length of a step (series where short) and the exact one."""
    series = k.step_km(lat, lon, k.latitude_cos(lat), lat2, lon2, k.latitude_cos(lat2))
    return series, k.exact_km(lat, lon, lat2, lon2)


def _ulps(value: float, reference: float) -> float:
    return abs(value - reference) / math.ulp(reference) if reference else abs(value)


@settings(max_examples=2000, deadline=None)
@given(latitudes)
def test_latitude_cosine_within_an_ulp(lat: float) -> None:
    assert _ulps(k.latitude_cos(lat), math.cos(lat * k.DEG_TO_RAD)) <= 1.0


@settings(max_examples=2000, deadline=None)
@given(latitudes, longitudes, offsets, offsets)
def test_step_length_within_a_few_ulps_of_the_exact_one(
    lat: float, lon: float, dlat: float, dlon: float
) -> None:
    lat2, lon2 = lat + dlat, lon + dlon
    series, exact = _lengths(lat, lon, lat2, lon2)
    assert (series == 0.0) == (exact == 0.0)
    assert abs(series - exact) <= 8 * math.ulp(exact)


@settings(max_examples=2000, deadline=None)
@given(
    latitudes,
    longitudes,
    offsets,
    offsets,
    st.one_of(st.just(0.0), st.floats(min_value=-1e-7, max_value=1e-7)),
)
# Steps whose two lengths differ in the last bit, either way, with the limit at
# the exact length: only the recomputation keeps the decision right.
@example(13.331885, 103.943473, 13.332563 - 13.331885, 103.943933 - 103.943473, 0.0)
@example(13.256634, 107.538152, 13.256977 - 13.256634, 107.537906 - 107.538152, 0.0)
def test_a_rule_decides_as_the_engines_do(
    lat: float, lon: float, dlat: float, dlon: float, nudge: float
) -> None:
    """A limit placed at (or a hair from) the exact length: where the series length
    is not recomputed, it lies on the same side of the limit as the exact one."""
    lat2, lon2 = lat + dlat, lon + dlon
    series, exact = _lengths(lat, lon, lat2, lon2)
    limit = exact * (1.0 + nudge)
    if k.near(series, limit):
        return  # measured again exactly by the kernel
    assert (series > limit) == (exact > limit)


def test_a_length_at_a_limit_is_near_it() -> None:
    """The margin is wide enough to catch the ulps between the two computations."""
    lat, lon, lat2, lon2 = 13.331885, 103.943473, 13.332563, 103.943933
    series, exact = _lengths(lat, lon, lat2, lon2)
    assert series != exact  # an ulp apart
    assert k.near(series, exact)
    assert k.near(series, math.nextafter(exact, math.inf))
    assert not k.near(series, exact * 1.001)
