"""The `checkout_sessions` background job: expires the open Checkout Sessions whose
`expires_at` has come, in real time (`kassa.services.checkout_completion.expire_due_sessions`;
one whose payment finished on the 3-D Secure page is completed instead). One indexed read
when nothing is due."""

from __future__ import annotations

import logging

from kassa.services.checkout_completion import expire_due_sessions
from kassa.workers.polling import PollingJob, Step

CHECKOUT_SESSIONS_POLL_SECONDS = 5.0
"""How often the job looks for sessions to expire: Stripe's expiry is not to the second
either (`expires_at` is at least 30 minutes ahead)."""

CHECKOUT_SESSIONS = PollingJob(
    steps=(Step(expire_due_sessions, "expired %d checkout sessions"),),
    poll_seconds=CHECKOUT_SESSIONS_POLL_SECONDS,
    log=logging.getLogger("kassa.checkout"),
    failed="expiring checkout sessions failed; will retry",
)
