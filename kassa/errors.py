"""Domain errors. They carry meaning only; the HTTP edge (`kassa.http.errors`) maps them
to Stripe's error objects and status codes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Self

ERROR_CODES_URL: Final = "https://stripe.com/docs/error-codes"


def doc_url(code: str) -> str:
    """Stripe's page for an error code, as an error's `doc_url` names it: the code with
    hyphens for underscores (`card_declined` -> `.../error-codes/card-declined`)."""
    return f"{ERROR_CODES_URL}/{code.replace('_', '-')}"


def recorded_error(code: str, message: str, error_type: str, **fields: Any) -> dict[str, Any]:
    """An error as Stripe records it on the object that failed (`last_payment_error`,
    `last_setup_error`): its code, that code's page, message and type, with `fields` added,
    all in name order as Stripe's are."""
    shape = {"code": code, "doc_url": doc_url(code), "message": message, "type": error_type}
    return dict(sorted((shape | fields).items()))


class KassaError(Exception):
    """Base of every error Kassa reports to an API caller."""

    code: str | None = None
    decline_code: str | None = None
    commits_writes: bool = False
    """True for outcomes Stripe records before answering with an error (a declined charge
    is stored, and replayed for the same idempotency key); False rolls everything back."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self.details: dict[str, Any] = {}
        """Objects Stripe adds to this error (`payment_intent`, `charge`, `payment_method`)."""

    def carrying(self, **objects: Any) -> Self:
        """This error with the objects Stripe's error names (the failed charge, the intent,
        the payment method), ready to raise; its `doc_url` is the edge's, as every coded
        error's (`kassa.http.errors.error_body`)."""
        self.details = dict(sorted(objects.items()))
        return self


class InvalidRequest(KassaError):
    """The request cannot be carried out as sent (Stripe's invalid_request_error)."""


class InvalidParameter(InvalidRequest):
    """A parameter is missing, unknown, malformed or out of range. Stripe has no code for a
    malformed value in general (an invalid boolean, decimal, timestamp or enum value): its
    error then has neither `code` nor `doc_url`, and neither has this one unless a subclass
    below (or the raiser's `code=`) names one of Stripe's."""


class InvalidInteger(InvalidParameter):
    """Text where an integer was expected (`unit_amount=1.5`, `=abc`)."""

    code = "parameter_invalid_integer"

    def __init__(self, shown: str, *, param: str) -> None:
        super().__init__(f"Invalid integer: {shown}", param=param)


class EmptyParameter(InvalidParameter):
    """An empty string for a parameter that cannot be unset (Stripe's words)."""

    code = "parameter_invalid_empty"

    def __init__(self, param: str) -> None:
        super().__init__(
            f"You passed an empty string for '{param}'. We assume empty values are an attempt "
            f"to unset a parameter; however '{param}' cannot be unset. You should remove "
            f"'{param}' from your request or supply a non-empty value.",
            param=param,
        )


class ExclusiveParameters(InvalidParameter):
    """Parameters that exclude each other, sent together. The message is Stripe's, naming
    `names`, with `note` added; `message` replaces it where Stripe words it otherwise."""

    code = "parameters_exclusive"

    def __init__(
        self,
        names: Sequence[str],
        *,
        param: str,
        note: str = "",
        message: str | None = None,
    ) -> None:
        listed = ", ".join(names)
        super().__init__(
            message or f"You may only specify one of these parameters: {listed}.{note}",
            param=param,
        )


class UnknownParameter(InvalidParameter):
    code = "parameter_unknown"

    def __init__(self, param: str) -> None:
        super().__init__(f"Received unknown parameter: {param}", param=param)


class MissingParameter(InvalidParameter):
    code = "parameter_missing"

    def __init__(self, param: str) -> None:
        super().__init__(f"Missing required param: {param}.", param=param)


class AmountTooLarge(InvalidParameter):
    """An amount over what it may be: over Stripe's maximum for a charge, an invoice item or
    an invoice's payment, or over what is left to capture or refund. `param`: the request's
    parameter that made it so; None where no one parameter did (an invoice's amount due)."""

    code = "amount_too_large"

    def __init__(self, message: str, *, param: str | None) -> None:
        super().__init__(message, param=param)


class InactiveObject(InvalidParameter):
    """The object a parameter names exists but is archived (`active` false: a price, a
    shipping rate) where only an active one will do: a new Checkout Session cannot offer it,
    so a Payment Link naming it no longer opens."""


class ResourceMissing(InvalidRequest):
    """The object named does not exist for this account."""

    code = "resource_missing"

    def __init__(
        self, object_name: str, object_id: str, *, param: str = "id", reason: str = ""
    ) -> None:
        """`reason`, when given, says why an object that exists counts as missing, as a
        predicate (`is already canceled.`): it follows the message."""
        message = f"No such {object_name}: '{object_id}'"
        super().__init__(f"{message} {reason}" if reason else message, param=param)
        self.reason = reason
        self.object_name = object_name
        self.object_id = object_id


class NoUpcomingInvoice(InvalidRequest):
    """`POST /v1/invoices/create_preview` with nothing to invoice: a customer with nothing
    pending, a subscription that bills nothing more. Stripe answers 404 with the code
    `invoice_upcoming_none` and no `param` (stripe-java#920 quotes the body: "No upcoming
    invoices for customer: cus_abc"; stripe-dotnet#1246 shows its status, 404)."""

    code = "invoice_upcoming_none"

    def __init__(self, object_name: str, object_id: str, *, reason: str = "") -> None:
        """`reason`, when given, says why in Kassa's words (`it is canceled`): it follows
        Stripe's message in parentheses."""
        message = f"No upcoming invoices for {object_name}: {object_id}"
        super().__init__(f"{message} ({reason})." if reason else message)


class InvoiceNotEditable(InvalidRequest):
    """A change only a draft invoice (or an item on one) takes, asked of a finalized one."""

    code = "invoice_not_editable"


class RouteNotFound(InvalidRequest):
    def __init__(self, method: str, path: str) -> None:
        super().__init__(
            f"Unrecognized request URL ({method}: {path}). Please see the Kassa README for "
            "the endpoints it serves."
        )


class NotAuthenticated(KassaError):
    """No API key, or one that does not belong to any account."""


class PublishableKeyNotAllowed(KassaError):
    """A publishable key was used for an operation that needs a secret key."""


class IdempotencyKeyInUse(KassaError):
    """Another request with this key is still being carried out."""

    code = "idempotency_key_in_use"

    def __init__(self) -> None:
        super().__init__(
            "There is currently another in-progress request using this Idempotent Key "
            "(that probably means you submitted twice, and the other request is still going "
            "through). Please try again later."
        )


class IdempotencyKeyReused(KassaError):
    """The key was first used with other parameters or another endpoint."""

    def __init__(self) -> None:
        super().__init__(
            "Keys for idempotent requests can only be used with the same parameters they "
            "were first used with. Try using a key other than the one you used before."
        )


class CardError(KassaError):
    """The card cannot be used as given: a malformed number or expiry, or an issuer's decline
    (Stripe's card_error, HTTP 402)."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        param: str | None = None,
        decline_code: str | None = None,
    ) -> None:
        super().__init__(message, param=param, code=code)
        self.decline_code = decline_code


class CardDeclined(CardError):
    """A charge attempt the issuer (or Kassa's test network) declined. Stripe records the
    failed charge before answering, so the request's writes commit."""

    commits_writes = True

    def recorded(self, **context: Any) -> dict[str, Any]:
        """The decline as Stripe records it on the object that failed (`last_payment_error`,
        `last_setup_error`), with `context` (the charge, the payment method) added. Its
        `decline_code` and `param` only when it has them, as Stripe's error objects."""
        present = {"decline_code": self.decline_code, "param": self.param}
        return recorded_error(
            self.code or "card_declined",  # a CardError always has a code
            self.message,
            "card_error",
            **{name: value for name, value in present.items() if value is not None},
            **context,
        )


class RateLimited(KassaError):
    """Too many requests for one account in one second (`KASSA_RATE_LIMIT`)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="rate_limit")
