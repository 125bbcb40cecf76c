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
    # Under load, keep posting while there is work (bounded by ROUNDS_WITHOUT_WAIT_MAX),
    # rather than fall a poll interval further behind each round.
    again_after_work=True,
)
