"""The one place domain errors become Stripe error objects and HTTP statuses."""

from __future__ import annotations

from typing import Any

import orjson

from kassa.errors import (
    CardError,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    InvalidRequest,
    KassaError,
    NotAuthenticated,
    NoUpcomingInvoice,
    PublishableKeyNotAllowed,
    RateLimited,
    ResourceMissing,
    RouteNotFound,
    doc_url,
)


def stripe_json(value: Any) -> bytes:
    """A response body as Stripe writes one: JSON indented by two spaces (`"id": "cus_..."`
    on its own line), which scripts that grep Stripe's answers rely on. orjson's indenting
    costs about a microsecond per object."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2)


class RequestTooLarge(InvalidRequest):
    """The body is over the size limit (raised by the HTTP edge itself)."""


# Most specific first: the first class that matches decides.
_STATUS_AND_TYPE: tuple[tuple[type[KassaError], int, str], ...] = (
    (CardError, 402, "card_error"),
    (ResourceMissing, 404, "invalid_request_error"),
    (NoUpcomingInvoice, 404, "invalid_request_error"),
    (RouteNotFound, 404, "invalid_request_error"),
    (RequestTooLarge, 413, "invalid_request_error"),
    (InvalidRequest, 400, "invalid_request_error"),
    (NotAuthenticated, 401, "invalid_request_error"),
    (PublishableKeyNotAllowed, 401, "invalid_request_error"),
    (IdempotencyKeyInUse, 409, "idempotency_error"),
    (RateLimited, 429, "invalid_request_error"),
    (IdempotencyKeyReused, 400, "idempotency_error"),
)


def status_and_type(error: KassaError) -> tuple[int, str]:
    for error_class, status, error_type in _STATUS_AND_TYPE:
        if isinstance(error, error_class):
            return status, error_type
    return 400, "invalid_request_error"


def error_body(error: KassaError) -> tuple[int, bytes]:
    status, error_type = status_and_type(error)
    payload: dict[str, Any] = {"type": error_type, "message": error.message}
    if error.code:
        payload["code"] = error.code
        # Stripe links every coded error to its page (a decline's own may be set below).
        payload["doc_url"] = doc_url(error.code)
    if error.decline_code:
        payload["decline_code"] = error.decline_code
    if error.param:
        payload["param"] = error.param
    payload.update(error.details)
    return status, stripe_json({"error": payload})


def internal_error_body(request_id: str) -> bytes:
    return stripe_json(
        {
            "error": {
                "type": "api_error",
                "message": f"An unexpected error occurred in Kassa (request {request_id}); "
                "the server log has the details.",
            }
        }
    )


UNAVAILABLE_RETRY_AFTER_SECONDS = 1


def unavailable_response_parts() -> tuple[int, bytes, tuple[tuple[bytes, bytes], ...]]:
    """503 in Stripe's `api_error` shape, with `Retry-After`: the database cannot be reached
    now and nothing was written; the same request (with its idempotency key) may be sent
    again. The SDKs retry a 503 by themselves when configured to retry."""
    body = stripe_json(
        {
            "error": {
                "type": "api_error",
                "message": "Kassa cannot reach its database right now and did nothing with "
                "this request; try it again shortly.",
            }
        }
    )
    return 503, body, ((b"retry-after", str(UNAVAILABLE_RETRY_AFTER_SECONDS).encode()),)
