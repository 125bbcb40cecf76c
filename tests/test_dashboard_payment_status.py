"""The status badge the dashboard shows for a payment (`payment_status`): one reading of a
PaymentIntent's status and of a Charges API charge's, for the list, the home page and both
kinds of payment page."""

from __future__ import annotations

import pytest

from kassa.dashboard.views.payments import StatusBadge, payment_status
from kassa.services.resource import ApiObject


def _intent(status: str, last_payment_error: object = None) -> ApiObject:
    return {"object": "payment_intent", "status": status, "last_payment_error": last_payment_error}


def _charge(status: str, captured: bool) -> ApiObject:
    return {"object": "charge", "status": status, "captured": captured}


@pytest.mark.parametrize(
    ("payment", "badge"),
    [
        (_intent("succeeded"), StatusBadge("Succeeded", "succeeded")),
        (_intent("requires_capture"), StatusBadge("Uncaptured", "requires-capture")),
        (_intent("requires_payment_method"), StatusBadge("Incomplete", "incomplete")),
        (
            _intent("requires_payment_method", {"code": "card_declined"}),
            StatusBadge("Failed", "requires-payment-method"),
        ),
        (_intent("requires_action"), StatusBadge("Requires action", "requires-action")),
        (_charge("succeeded", True), StatusBadge("Succeeded", "succeeded")),
        (_charge("succeeded", False), StatusBadge("Uncaptured", "requires-capture")),
        (_charge("failed", False), StatusBadge("Failed", "requires-payment-method")),
        (_charge("pending", False), StatusBadge("Pending", "pending")),
    ],
)
def test_payment_status(payment: ApiObject, badge: StatusBadge) -> None:
    assert payment_status(payment) == badge
