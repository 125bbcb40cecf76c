"""The `payouts` background job: makes the automatic payouts the accounts' schedules call
for and moves payouts on when their time comes (pending -> in_transit at the bank's cut-off,
then paid or failed on their arrival date), on the clock it is given
(`kassa.services.payouts`, `kassa.services.balance_settings`)."""

from __future__ import annotations

import logging

from kassa.services.payouts import advance_due_payouts, make_due_automatic_payouts
from kassa.workers.polling import PollingJob, Step

PAYOUTS_INTERVAL_SECONDS = 30.0
"""How often the job looks for payouts to move: payouts move at midnight UTC, and reading a
payout or the list brings the account's up to date on the spot."""

PAYOUTS = PollingJob(
    steps=(
        Step(make_due_automatic_payouts, "made %d automatic payouts"),
        Step(advance_due_payouts, "moved %d payouts"),
    ),
    poll_seconds=PAYOUTS_INTERVAL_SECONDS,
    log=logging.getLogger("kassa.payouts"),
    failed="moving payouts failed; will retry",
)
