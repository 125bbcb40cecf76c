"""When a subscription next has work due (`subscription_documents.next_work_at`, stored as
`_kassa.renews_at`, the column the clock work and the renewal job scan), one rule at a time on
documents built by hand, and properties over random ones: derived from the document alone,
never from the stored value it replaces.

Times: the subscription is created on January 31, 2027, 10:00 UTC; its period ends on
February 28."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa.services.billing.subscription_documents import (
    ENDED,
    INCOMPLETE_EXPIRES_SECONDS,
    RENEWS_AT,
    RESUMING_EXPIRES_AT,
    STATUSES,
    TRIAL_WILL_END_NOTICE_SECONDS,
    TRIAL_WILL_END_SENT,
    mark_upcoming_notice_sent,
    next_work_at,
    note_upcoming_notice,
)
from kassa.services.resource import ApiObject
from kassa.store.tables import PRIVATE

DAY = 86_400
HOUR = 3_600
CREATED = 1_801_389_600
"""January 31, 2027, 10:00 UTC."""
PERIOD_END = CREATED + 28 * DAY
"""February 28, 2027, 10:00 UTC."""


def document(
    status: str = "active",
    *,
    ends: tuple[int, ...] = (PERIOD_END,),
    cancel_at: int | None = None,
    trial_end: int | None = None,
    notice_sent: bool = False,
    pending_expires_at: int | None = None,
    resuming_expires_at: int | None = None,
    collection_resumes_at: int | None = None,
    stored: int | None = None,
) -> ApiObject:
    """The parts of a subscription's document its next work is derived from (one item per
    period end in `ends`); `stored` is a `renews_at` left by an earlier write."""
    facts: dict[str, Any] = {RENEWS_AT: stored, TRIAL_WILL_END_SENT: notice_sent}
    if resuming_expires_at is not None:
        facts[RESUMING_EXPIRES_AT] = resuming_expires_at
    return {
        "status": status,
        "created": CREATED,
        "cancel_at": cancel_at,
        "cancel_at_period_end": False,
        "trial_end": trial_end,
        "pause_collection": (
            None
            if collection_resumes_at is None
            else {"behavior": "void", "resumes_at": collection_resumes_at}
        ),
        "pending_update": (
            None if pending_expires_at is None else {"expires_at": pending_expires_at}
        ),
        "items": {
            "data": [{"current_period_start": CREATED, "current_period_end": e} for e in ends]
        },
        PRIVATE: facts,
    }


# -- renewing -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["active", "past_due", "unpaid"])
def test_a_renewing_subscription_is_due_at_its_period_end(status: str) -> None:
    assert next_work_at(document(status)) == PERIOD_END


def test_items_of_mixed_intervals_are_due_at_the_earliest_end() -> None:
    year_end = CREATED + 365 * DAY
    assert next_work_at(document(ends=(year_end, PERIOD_END))) == PERIOD_END


def test_a_cancel_at_before_the_period_end_comes_first() -> None:
    cancel_at = CREATED + 10 * DAY
    assert next_work_at(document(cancel_at=cancel_at)) == cancel_at


def test_a_cancel_at_after_the_period_end_waits_for_the_renewal() -> None:
    """The renewal cuts the next period short at `cancel_at` (`subscription_periods`)."""
    assert next_work_at(document(cancel_at=PERIOD_END + 10 * DAY)) == PERIOD_END


def test_cancel_at_period_end_is_due_at_the_period_end() -> None:
    """`cancel_at_period_end` sets `cancel_at` to the earliest end (`apply_cancel_at`)."""
    scheduled = document(cancel_at=PERIOD_END)
    scheduled["cancel_at_period_end"] = True
    assert next_work_at(scheduled) == PERIOD_END


def test_the_stored_value_is_never_read() -> None:
    """What an earlier write stored (stale or not) does not matter: derived afresh."""
    assert next_work_at(document(stored=CREATED + DAY)) == PERIOD_END
    assert next_work_at(document("canceled", stored=PERIOD_END)) is None


# -- invoice.upcoming -----------------------------------------------------------------------


def noted(subscription: ApiObject, days: int | None = 7) -> ApiObject:
    """The document as a write leaves it: charged automatically, its period's notice noted."""
    subscription["collection_method"] = "charge_automatically"
    note_upcoming_notice(subscription, days)
    return subscription


def test_a_renewal_charged_automatically_is_announced_days_before_it() -> None:
    assert next_work_at(noted(document())) == PERIOD_END - 7 * DAY
    assert next_work_at(noted(document("past_due"), 3)) == PERIOD_END - 3 * DAY


@pytest.mark.parametrize("why", ["send_invoice", "unpaid", "cancel_at_period_end", "paused"])
def test_a_renewal_not_charged_automatically_is_not_announced(why: str) -> None:
    subscription = noted(document("unpaid" if why == "unpaid" else "active"))
    if why == "send_invoice":
        subscription["collection_method"] = "send_invoice"
    if why == "cancel_at_period_end":
        subscription["cancel_at"] = PERIOD_END
    if why == "paused":
        subscription["pause_collection"] = {"behavior": "void", "resumes_at": None}
    assert next_work_at(subscription) == PERIOD_END


def test_the_notice_is_noted_once_a_period_and_sent_once() -> None:
    """A setting changed mid-period applies from the next period; sent, the period's
    renewal is next; a new period end notes its own."""
    subscription = noted(document())
    note_upcoming_notice(subscription, 3)
    assert next_work_at(subscription) == PERIOD_END - 7 * DAY
    mark_upcoming_notice_sent(subscription)
    note_upcoming_notice(subscription, 7)
    assert next_work_at(subscription) == PERIOD_END
    next_end = PERIOD_END + 31 * DAY
    subscription["items"]["data"][0].update(
        {"current_period_start": PERIOD_END, "current_period_end": next_end}
    )
    note_upcoming_notice(subscription, 3)
    assert next_work_at(subscription) == next_end - 3 * DAY


def test_none_when_off_or_longer_than_the_period() -> None:
    assert next_work_at(noted(document(), None)) == PERIOD_END
    assert next_work_at(noted(document(), 28)) == PERIOD_END


def test_a_trial_announces_its_first_invoice_before_its_own_notice() -> None:
    trial_end = CREATED + 14 * DAY
    trialing = noted(document("trialing", ends=(trial_end,), trial_end=trial_end))
    assert next_work_at(trialing) == trial_end - 7 * DAY
    mark_upcoming_notice_sent(trialing)
    assert next_work_at(trialing) == trial_end - TRIAL_WILL_END_NOTICE_SECONDS


# -- trial ----------------------------------------------------------------------------------


def test_a_trial_is_due_first_at_the_notice_three_days_before_its_end() -> None:
    trial_end = CREATED + 14 * DAY
    trialing = document("trialing", ends=(trial_end,), trial_end=trial_end)
    assert next_work_at(trialing) == trial_end - TRIAL_WILL_END_NOTICE_SECONDS


def test_once_noticed_a_trial_is_due_at_its_end() -> None:
    trial_end = CREATED + 14 * DAY
    noticed = document("trialing", ends=(trial_end,), trial_end=trial_end, notice_sent=True)
    assert next_work_at(noticed) == trial_end


@pytest.mark.parametrize("notice_sent", [False, True])
def test_a_cancel_at_before_the_trial_work_comes_first(notice_sent: bool) -> None:
    trial_end, cancel_at = CREATED + 14 * DAY, CREATED + 5 * DAY
    trialing = document(
        "trialing",
        ends=(cancel_at,),
        trial_end=trial_end,
        cancel_at=cancel_at,
        notice_sent=notice_sent,
    )
    assert next_work_at(trialing) == cancel_at


def test_a_trial_end_left_on_a_subscription_no_longer_trialing_is_not_its_work() -> None:
    """Paid periods after a trial renew at their ends; the old `trial_end` stays shown."""
    assert next_work_at(document(trial_end=CREATED - DAY)) == PERIOD_END


# -- incomplete -----------------------------------------------------------------------------


def test_an_incomplete_subscription_is_due_to_expire_23_hours_after_creation() -> None:
    assert next_work_at(document("incomplete")) == CREATED + INCOMPLETE_EXPIRES_SECONDS


def test_an_incomplete_subscription_keeps_its_expiry_past_a_cancel_at() -> None:
    """Paid after `cancel_at`, it ends at its next renewal (`cancel_due` then)."""
    early = CREATED + HOUR
    incomplete = document("incomplete", cancel_at=early)
    assert next_work_at(incomplete) == CREATED + INCOMPLETE_EXPIRES_SECONDS


# -- paused ---------------------------------------------------------------------------------


def test_a_paused_subscription_has_no_work_of_its_periods() -> None:
    assert next_work_at(document("paused")) is None


def test_a_paused_subscription_is_due_at_its_scheduled_cancellation() -> None:
    cancel_at = PERIOD_END + 40 * DAY  # past the period's end: a paused one does not renew
    assert next_work_at(document("paused", cancel_at=cancel_at)) == cancel_at


@pytest.mark.parametrize("cancel_in_days", [None, 1, 30])
def test_a_paused_subscription_is_due_when_its_resumption_invoice_expires(
    cancel_in_days: int | None,
) -> None:
    expires_at = CREATED + 2 * DAY
    cancel_at = None if cancel_in_days is None else CREATED + cancel_in_days * DAY
    paused = document("paused", cancel_at=cancel_at, resuming_expires_at=expires_at)
    assert next_work_at(paused) == min(t for t in (expires_at, cancel_at) if t is not None)


# -- pending update -------------------------------------------------------------------------


def test_a_pending_update_expiring_first_is_due_then() -> None:
    expires_at = CREATED + 23 * HOUR
    assert next_work_at(document(pending_expires_at=expires_at)) == expires_at


def test_a_pending_update_expiring_later_leaves_the_earlier_work_due() -> None:
    cancel_at = CREATED + 5 * HOUR
    pending = document(cancel_at=cancel_at, pending_expires_at=CREATED + 23 * HOUR)
    assert next_work_at(pending) == cancel_at


def test_a_paused_subscription_with_nothing_else_due_is_due_at_a_pending_expiry() -> None:
    expires_at = CREATED + 23 * HOUR
    assert next_work_at(document("paused", pending_expires_at=expires_at)) == expires_at


# -- pause_collection -----------------------------------------------------------------------


@pytest.mark.parametrize("status", ["active", "past_due", "trialing", "paused"])
def test_a_collection_pause_is_due_at_its_resumes_at_when_that_comes_first(status: str) -> None:
    trial_end = PERIOD_END if status == "trialing" else None
    resumes_at = CREATED + 3 * DAY
    paused = document(status, trial_end=trial_end, collection_resumes_at=resumes_at)
    assert next_work_at(paused) == resumes_at


def test_a_collection_pause_resuming_after_the_renewal_leaves_the_renewal_due_first() -> None:
    later = document(collection_resumes_at=PERIOD_END + DAY)
    assert next_work_at(later) == PERIOD_END


@pytest.mark.parametrize("status", ENDED)
def test_an_ended_subscription_has_no_work(status: str) -> None:
    ended = document(
        status,
        cancel_at=PERIOD_END,
        pending_expires_at=CREATED + HOUR,
        resuming_expires_at=CREATED + HOUR,
    )
    assert next_work_at(ended) is None


# -- properties -----------------------------------------------------------------------------

_OFFSETS = st.integers(min_value=1, max_value=400 * DAY)
_MAYBE_OFFSET = st.none() | _OFFSETS


@given(
    status=st.sampled_from([s for s in STATUSES if s not in ENDED]),
    ends=st.lists(_OFFSETS, min_size=1, max_size=4),
    cancel_at=_MAYBE_OFFSET,
    trial_end=_MAYBE_OFFSET,
    notice_sent=st.booleans(),
    pending=_MAYBE_OFFSET,
    resuming=_MAYBE_OFFSET,
)
def test_work_is_never_later_than_a_pending_expiry_or_a_scheduled_cancellation(
    status: str,
    ends: list[int],
    cancel_at: int | None,
    trial_end: int | None,
    notice_sent: bool,
    pending: int | None,
    resuming: int | None,
) -> None:
    """For any live subscription: a pending update's expiry is never passed over, nor is a
    `cancel_at` (but an incomplete one's, which waits for its first payment)."""
    subscription = document(
        status,
        ends=tuple(CREATED + end for end in ends),
        cancel_at=None if cancel_at is None else CREATED + cancel_at,
        trial_end=None if trial_end is None else CREATED + trial_end,
        notice_sent=notice_sent,
        pending_expires_at=None if pending is None else CREATED + pending,
        resuming_expires_at=None if resuming is None else CREATED + resuming,
    )
    due = next_work_at(subscription)
    bounds = [] if pending is None else [CREATED + pending]
    if cancel_at is not None and status != "incomplete":
        bounds.append(CREATED + cancel_at)
    for bound in bounds:
        assert due is not None and due <= bound
    if status != "paused":
        assert due is not None  # only a paused one may have nothing due
