"""The `capture_postings` background job: posts to the ledger the card captures that
PaymentIntents made asynchronously (`kassa.services.capture_postings`; a test clock's
advance posts its own). Stripe attaches the balance transaction a moment after the payment,
so the job looks often: one indexed read when nothing is due."""

from __future__ import annotations

import logging

from kassa.services.capture_postings import post_due_captures
from kassa.services.wakeups import CAPTURES_TO_POST
from kassa.workers.polling import PollingJob, Step

CAPTURE_POSTINGS_POLL_SECONDS = 0.25
"""How often the job looks for captures to post that no unit of this process woke it for
(another process's payments, a test clock come to rest)."""
CAPTURE_POSTINGS_GATHER_SECONDS = 0.05
"""After a round that posted more than one capture (under load), the least wait before the
next: about 50 ms of payments gather into full units of 20 (a round at once after each
payment would post a few at a time, each few paying a unit and a commit)."""

CAPTURE_POSTINGS = PollingJob(
    steps=(Step(post_due_captures, "posted %d captures"),),
    poll_seconds=CAPTURE_POSTINGS_POLL_SECONDS,
    log=logging.getLogger("kassa.capture_postings"),
    failed="posting captures failed; will retry",
    # Woken by each payment of this process once committed: an idle server posts a capture
    # a moment after its payment, as Stripe does. Not `again_after_work`: a round posts up
    # to 1,000 (`UNITS_PER_RUN_MAX` full units).
    wakeup=CAPTURES_TO_POST,
    gather_seconds=CAPTURE_POSTINGS_GATHER_SECONDS,
)
