"""The `authorization_expiries` background job: expires the card authorizations held for
capture whose window has closed in real time (`kassa.services.authorization_expiry`; a test
clock's advance does its own). Windows are days long, so the job need not look often: one
indexed read when nothing is due."""

from __future__ import annotations

import logging

from kassa.services.authorization_expiry import expire_due_authorizations
from kassa.workers.polling import PollingJob, Step

AUTHORIZATION_EXPIRIES_POLL_SECONDS = 5.0
"""How often the job looks for authorizations whose capture window has closed (a capture
after it is refused meanwhile: `authorization_expiry.end_hold_for_capture`)."""

AUTHORIZATION_EXPIRIES = PollingJob(
    steps=(Step(expire_due_authorizations, "expired %d authorizations"),),
    poll_seconds=AUTHORIZATION_EXPIRIES_POLL_SECONDS,
    log=logging.getLogger("kassa.authorization_expiries"),
    failed="expiring authorizations failed; will retry",
)
