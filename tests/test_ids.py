"""Object ids: Stripe's shape, unique, and ordered by creation time so that the unique indexes
on them grow at their right edge (kassa/ids.py)."""

from __future__ import annotations

import re
import time

from kassa.ids import OBJECT_ID_RANDOM_CHARS, OBJECT_ID_TIME_CHARS, base62_fixed, new_id

ID_SHAPE = re.compile(r"^cus_[0-9A-Za-z]{24}$")


def test_an_id_is_its_prefix_then_24_base62_characters() -> None:
    assert OBJECT_ID_TIME_CHARS + OBJECT_ID_RANDOM_CHARS == 24
    assert ID_SHAPE.match(new_id("cus"))


def test_ids_made_in_later_milliseconds_sort_after_earlier_ones() -> None:
    earlier = [new_id("evt") for _ in range(100)]
    time.sleep(0.003)
    later = [new_id("evt") for _ in range(100)]
    assert max(earlier) < min(later)


def test_ids_made_in_one_millisecond_still_differ() -> None:
    made = [new_id("evt") for _ in range(10_000)]
    assert len(set(made)) == len(made)


def test_fixed_width_base62_sorts_as_the_numbers_do() -> None:
    numbers = [0, 1, 9, 10, 35, 36, 61, 62, 3_843, 3_844, 62**7 - 1]
    encoded = [base62_fixed(number, 7) for number in numbers]
    assert all(len(text) == 7 for text in encoded)
    assert encoded == sorted(encoded)
    assert (base62_fixed(0, 2), base62_fixed(61, 2), base62_fixed(62, 2)) == ("00", "0z", "10")
