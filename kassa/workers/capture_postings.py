"""The `capture_postings` background job: posts to the ledger the card captures that
PaymentIntents made asynchronously (`kassa.services.capture_postings`; a test clock's
advance posts its own). Stripe attaches the balance transaction a moment after the payment,
so the job looks often: one indexed read when nothing is due."""

from __future__ import annotations

import logging

from kassa.services.capture_postings import post_due_captures
from kassa.workers.polling import PollingJob, Step

CAPTURE_POSTINGS_POLL_SECONDS = 0.25
"""How often the job looks for captures to post."""

CAPTURE_POSTINGS = PollingJob(
    steps=(Step(post_due_captures, "posted %d captures"),),
    poll_seconds=CAPTURE_POSTINGS_POLL_SECONDS,
    log=logging.getLogger("kassa.capture_postings"),
    failed="posting captures failed; will retry",
    # Not `again_after_work`: a round posts up to 1,000 (`UNITS_PER_RUN_MAX` full units),
    # four rounds a second keep up with any load one process serves, and waiting the poll
    # interval lets postings gather into full units (a round at once after each would post
    # a few at a time, each few paying a unit and a commit).
)
