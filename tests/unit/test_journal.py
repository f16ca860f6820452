"""Journal bodies: the fast decoder gives exactly what the standard library gives."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from article6.domain.journal import canonical, parse

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_parse_of_a_canonical_body_equals_json_loads(value: Any) -> None:
    data = canonical(value)
    assert _same(parse(data), json.loads(data.decode("utf-8")))


@pytest.mark.parametrize(
    "text",
    [
        '{"name":"Cambodia – ព្រះរាជាណាចក្រកម្ពុជា","party":"대한민국","q":40000}',
        '{"big":123456789012345678901234567890}',  # beyond 64 bits: the standard library
        '{"n":18446744073709551616,"m":-9223372036854775809}',  # just beyond 64 bits
        '{"n":999999999999999999,"s":"1234567890123456789012"}',  # 18 digits; digits in a string
        '{"x":NaN}',  # not canonical, but json.loads reads it
        '{"s":"\\ud800"}',  # a lone surrogate
        '{"a":1,"a":2}',  # the last duplicate wins in both
        '{"f":1e400}',
        '[1.0,-0.0,1e-7,"\\u0000\\n\\t"]',
    ],
)
def test_parse_matches_json_loads_where_decoders_differ(text: str) -> None:
    assert _same(parse(text.encode()), json.loads(text))


@pytest.mark.parametrize("text", ["{", '{"a":}', "", "[1,]"])
def test_parse_refuses_what_json_loads_refuses(text: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    with pytest.raises(json.JSONDecodeError):
        parse(text.encode())


def _same(a: Any, b: Any) -> bool:
    """Equal values of equal types (so 1 and 1.0, or True and 1, are told apart; NaN is NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and a != a:
        return b != b
    return bool(a == b) and (not isinstance(a, float) or str(a) == str(b))
