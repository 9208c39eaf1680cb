"""Backoff: delays double from the initial one up to the ceiling, and reset by starting over."""

from itertools import islice

import pytest

from contract.backoff import Backoff


def test_delays_grow_by_the_factor_and_stop_growing_at_the_ceiling() -> None:
    assert list(islice(Backoff(0.1, 2.0, 1.0).delays(), 6)) == pytest.approx(
        [0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    assert list(islice(Backoff(0.5, 3.0, 10.0).delays(), 4)) == [0.5, 1.5, 4.5, 10.0]


def test_next_is_one_step_of_the_same_rule() -> None:
    backoff = Backoff(0.2, 2.0, 5.0)
    assert backoff.next(0.2) == 0.4
    assert backoff.next(4.0) == 5.0
    assert backoff.next(5.0) == 5.0


def test_a_new_iterator_starts_again_at_the_initial_delay() -> None:
    backoff = Backoff(0.2, 2.0, 5.0)
    failing = backoff.delays()
    assert [next(failing) for _ in range(3)] == [0.2, 0.4, 0.8]
    assert next(backoff.delays()) == 0.2  # the reset after a success
    assert next(failing) == 1.6  # the old iterator is unaffected: the value object is frozen


def test_a_factor_of_one_is_a_constant_delay() -> None:
    assert list(islice(Backoff(0.3, 1.0, 0.3).delays(), 3)) == [0.3, 0.3, 0.3]


@pytest.mark.parametrize(("initial", "factor", "ceiling"), [
    (0.0, 2.0, 1.0), (-1.0, 2.0, 1.0), (0.1, 0.5, 1.0), (2.0, 2.0, 1.0)])
def test_meaningless_settings_are_refused_naming_them(initial: float, factor: float,
                                                       ceiling: float) -> None:
    with pytest.raises(ValueError, match="initial"):
        Backoff(initial, factor, ceiling)
