"""The rate limit's pure logic: blocks, the process's allowance per window, the wait it asks for. No Redis."""

import pytest

from webapp.api.rate_limit import MAX_BLOCK, Allowance, RateLimit, block_size, seconds_left


@pytest.mark.parametrize("limit, block", [(1, 1), (49, 1), (600, 12), (5000, 100), (50_000, 1000), (10**6, MAX_BLOCK)])
def test_a_process_takes_a_fiftieth_of_the_limit_at_a_time_between_1_and_the_largest_block(limit, block):
    assert block_size(limit) == block


def test_the_allowance_spends_what_was_taken_and_names_what_is_missing():
    allowance = Allowance()
    assert allowance.spend(slot=7, user_id=1, amount=3) == 3  # nothing taken yet
    assert allowance.spend(7, 1, 3, taken=12) == 0
    assert allowance.spend(7, 1, 9) == 0  # the block's rest: 12 - 3 - 9
    assert allowance.spend(7, 1, 1) == 1
    assert allowance.spend(7, 1, 5, taken=2) == 3  # what was taken stays for the next request
    assert allowance.spend(7, 1, 2) == 0


def test_each_user_has_their_own_allowance_and_a_new_window_starts_everyone_from_nothing():
    allowance = Allowance()
    assert allowance.spend(7, 1, 0, taken=10) == 0
    assert allowance.spend(7, 2, 1) == 1
    assert allowance.spend(8, 1, 1) == 1  # the next window: user 1's rest is gone
    assert allowance.spend(7, 1, 1) == 1  # and an answer for the window before does not bring it back


@pytest.mark.parametrize("now, wait", [(1000.0, 20), (1019.2, 1), (1019.9, 1), (1020.0, 60), (1049.5, 31)])
def test_the_wait_is_whole_seconds_to_the_end_of_the_window_and_never_zero(now, wait):
    assert seconds_left(now, 60) == wait


def test_a_limit_of_zero_asks_nothing_of_redis():
    assert RateLimit(0, 60).retry_after(redis=None, prefix="ie:", user_id=1, amount=10**6) is None
