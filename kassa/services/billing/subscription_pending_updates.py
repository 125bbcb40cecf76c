"""Pending updates: `payment_behavior=pending_if_incomplete` on `POST /v1/subscriptions/{id}`
and `/v1/subscription_items`, a change made only if the invoice it makes at once is paid.

As Stripe has them (docs.stripe.com/billing/subscriptions/pending-updates):
- a change that invoices nothing now (prorations left pending or none, `metadata`,
  `cancel_at_period_end` alone) applies at once, as under any payment behavior;
- one that does (`always_invoice` prorations, a new billing period) is invoiced and charged
  in the request; paid, it stands;
- not paid, the subscription keeps its items, period and status (it "will continue to cycle
  as if no update request was made"), its `latest_invoice` is the unpaid one, left open, and
  the change is shown in `pending_update` (`subscription_items`, `billing_cycle_anchor`,
  `metadata`, `cancel_at_period_end`, `expires_at`);
- that invoice paid later (`POST /v1/invoices/{id}/pay` with another card, a retry) applies
  the change and clears `pending_update` (`customer.subscription.updated` and
  `customer.subscription.pending_update_applied`); a payment that fails again changes
  nothing;
- still unpaid at `expires_at` (23 hours after the update, or the current period's end or
  the trial's if sooner), the invoice is voided and the change discarded
  (`customer.subscription.pending_update_expired`), on the subscription's governing clock:
  the expiry is work due (`subscription_documents.next_work_at`);
- a later change to the items replaces the pending update, whose invoice is voided; a later
  `cancel_at` that cuts a period short expires it so (`expire_if_cut`): it was prorated
  over the period as it was;
- the invoice a held change waits for carries that change's prorations only
  (`subscription_changes.change_subscription`), not what earlier updates left pending (a
  cut's credit): voided with the discarded change, it takes nothing else with it (Stripe
  discards "the associated changes"), and those wait for the next invoice;
- only the parameters Stripe lists may come with `pending_if_incomplete`
  (`subscription_params.PENDING_UPDATE_PARAMS`, `PENDING_ITEM_PARAMS`), and only on a
  `charge_automatically` subscription.

How a change is held: it is made on the document as any change is (its prorations and its
invoice stored by `subscription_changes`, its item rows not yet); when its invoice is left
unpaid the document goes back to what it was before the update, and keeps, privately, the
fields the change set, which the invoice's payment sets again. Not the subscription's
discounts nor their terms, which may change while the change is held (an update with
`discounts` alone neither needs nor replaces it): only which `once` discounts its invoice
used up, noted on the terms as they then stand.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from kassa.errors import InvalidParameter
from kassa.invariants import InvariantViolated, ensure
from kassa.params import UNSET, MetadataUpdate, apply_metadata
from kassa.services.billing import invoice_documents, invoice_transitions
from kassa.services.billing.subscription_changes import (
    ChangeTerms,
    awaits_payment,
    store_item_rows,
)
from kassa.services.billing.subscription_credits import DEBITS, debits_of
from kassa.services.billing.subscription_discounts import (
    DISCOUNT_TERMS,
    forget_uses_by,
    newly_used,
    note_used,
)
from kassa.services.billing.subscription_documents import (
    ENDED,
    HELD,
    RENEWS_AT,
    announce,
    current_period,
    item_period,
    items_of,
    private,
    save,
    set_item_period,
    snapshot,
)
from kassa.services.billing.subscription_params import (
    PENDING_IF_INCOMPLETE,
    PENDING_ITEM_FIELDS,
)
from kassa.services.billing.subscription_periods import restoration
from kassa.services.context import Context
from kassa.services.resource import ApiObject
from kassa.store.tables import PRIVATE

UPDATE_EXPIRES_SECONDS: Final = 23 * 3_600
"""Stripe discards a pending update 23 hours after the update at the latest."""
APPLIED: Final = "customer.subscription.pending_update_applied"
EXPIRED: Final = "customer.subscription.pending_update_expired"
EVENT_TYPES: Final = (APPLIED, EXPIRED)
_NOT_HELD: Final = frozenset(
    {"latest_invoice", "status", "pending_update", "metadata", "discounts", PRIVATE}
)
"""Fields the held change does not set again: what its invoice and the subscription's own
fate decide, `metadata`, merged into the metadata of the day the change applies, and
`discounts`, which no pending update carries (Stripe's pending-updates reference lists the
attributes one takes; `discounts` is not among them): the held change's invoice only dropped
the `once` ones already used (`subscription_discounts.prune_discounts`), and set again they
would undo a `discounts` update made while the change was held (the next invoice drops the
used ones anyway)."""
_OWN_FACTS: Final = frozenset({HELD, RENEWS_AT, DISCOUNT_TERMS})
"""Facts the held change does not set again: its own, what saving derives, and the terms of
the subscription's discounts, which may change while it is held (a discount added, one
removed): only the uses its invoice made are held (`USED`), and noted on the terms as they
are when it applies."""
USED: Final = "used_discounts"
"""In the held change: the `once` discounts its invoice used up."""


@dataclass(frozen=True, kw_only=True)
class Requested:
    """What the update asks besides the change to its items, held with it (the update has
    already applied both to the document)."""

    metadata: MetadataUpdate | None = None
    cancel_at_period_end: bool | None = None


def sent(request: Any, ids: Iterable[str]) -> list[str]:
    """The parameters a parsed request carries (its fields given a value), but the `ids`
    naming what it changes."""
    skipped = set(ids)
    return [
        f.name
        for f in dataclasses.fields(request)
        if f.name not in skipped and getattr(request, f.name) is not None
    ]


def check_request(
    subscription: Mapping[str, Any],
    behavior: str | None,
    given: Iterable[str],
    allowed: frozenset[str],
    items: Sequence[Mapping[str, Any]] = (),
) -> None:
    """With `pending_if_incomplete`: refuse, naming the parameter, what a pending update
    cannot hold, and a subscription that is not charged automatically."""
    if behavior != PENDING_IF_INCOMPLETE:
        return
    if subscription["collection_method"] != "charge_automatically":
        raise InvalidParameter(
            "payment_behavior=pending_if_incomplete is not supported for subscriptions with "
            "collection_method=send_invoice.",
            param="payment_behavior",
        )
    for name in sorted(given):
        if name not in allowed:
            raise InvalidParameter(
                f"{name} cannot be used with payment_behavior=pending_if_incomplete; a "
                f"pending update takes only {', '.join(sorted(allowed))}.",
                param=name,
            )
    for index, entry in enumerate(items):
        for key in sorted(entry):
            if key not in PENDING_ITEM_FIELDS:
                raise InvalidParameter(
                    f"items[{index}][{key}] cannot be used with payment_behavior="
                    "pending_if_incomplete; a pending update's items take only "
                    f"{', '.join(sorted(PENDING_ITEM_FIELDS))}.",
                    param=f"items[{index}][{key}]",
                )


async def begin(ctx: Context, subscription: ApiObject, terms: ChangeTerms) -> ApiObject | None:
    """Before an update changes anything: a change to the items replaces the pending update
    (its invoice voided); with `pending_if_incomplete`, the document as it then stands, to
    go back to if the change's invoice is not paid (`settle`)."""
    if terms.changes_anything and subscription.get("pending_update") is not None:
        await _discard(ctx, subscription)
    return snapshot(subscription) if terms.payment_behavior == PENDING_IF_INCOMPLETE else None


async def settle(
    ctx: Context,
    subscription: ApiObject,
    base: ApiObject | None,
    invoice: ApiObject | None,
    terms: ChangeTerms,
    requested: Requested | None = None,
) -> None:
    """After the update's changes: their invoice unpaid (`awaits_payment`), the subscription
    goes back to `base` (what `begin` kept) and holds them as its pending update."""
    if base is None or invoice is None or not awaits_payment(terms, invoice):
        return
    # Finalized and charged in the request: what is not paid is open (declined, or waiting
    # for the customer's authentication), and paying it later is what applies the change.
    ensure(invoice["status"] == "open", f"the held change's invoice {invoice['id']} is open")
    asked = requested or Requested()
    facts, base_facts = private(subscription), private(base)
    fields = {k: v for k, v in subscription.items() if k not in _NOT_HELD and base.get(k) != v}
    held = {
        "invoice": invoice["id"],
        "fields": fields,
        "facts": {k: v for k, v in facts.items() if k not in _OWN_FACTS and base_facts.get(k) != v},
        "dropped_facts": [k for k in base_facts if k not in facts and k not in _OWN_FACTS],
        USED: newly_used(base, subscription),
        "clears_metadata": asked.metadata is UNSET,
    }
    subscription.clear()
    subscription.update(base)
    subscription["latest_invoice"] = invoice["id"]
    subscription["pending_update"] = _shown(ctx, subscription, fields, asked)
    private(subscription)[HELD] = held


def follow_restoration(subscription: ApiObject, before: Mapping[str, Any]) -> None:
    """An update that changed no items left the change held before it pending, and gave
    periods a `cancel_at` had cut short their end back (`subscription_period_ends`): the held
    items get the same ends (a new one its own, as the restoration gives it), and the
    charges made for the time given back join the held debits, so paying the held invoice
    later neither cuts the periods short again nor leaves those charges uncredited."""
    held = private(subscription).get(HELD)
    held_before = private(before).get(HELD)
    if held is None or held_before is None or held["invoice"] != held_before["invoice"]:
        return
    periods_before = {str(item["id"]): item_period(item) for item in items_of(before)}
    periods_now = {str(item["id"]): item_period(item) for item in items_of(subscription)}
    fields = held["fields"]
    for entries in (
        fields["items"]["data"] if "items" in fields else [],
        (subscription.get("pending_update") or {}).get("subscription_items") or [],
    ):
        for entry in entries:
            item_id = str(entry["id"])
            if item_id in periods_now:
                if periods_now[item_id] != periods_before.get(item_id):
                    set_item_period(entry, periods_now[item_id])
                continue
            found = restoration(subscription, entry)
            if found is not None:
                set_item_period(entry, found.period)
    held_debits = held["facts"].get(DEBITS)
    debits_now = private(subscription).get(DEBITS)
    if held_debits is None or debits_now is None:
        return  # the held change leaves the record as it is now
    debits_before = private(before).get(DEBITS) or {}
    staying = {str(entry["id"]) for entry in fields["items"]["data"]} if "items" in fields else None
    for item_id in debits_now:
        if staying is not None and item_id not in staying:
            continue  # the held change removes it
        was = debits_of(debits_before, item_id)
        added = [one for one in debits_of(debits_now, item_id) if one not in was]
        if added:
            held_debits[item_id] = [*debits_of(held_debits, item_id), *added]


async def expire_if_cut(ctx: Context, subscription: ApiObject, before: ApiObject) -> None:
    """An update that changed no items but cut a period short (a `cancel_at` inside it)
    expires the change held before it, its invoice voided. The held change was prorated over
    the period as it was: applied later, it would charge its new items for time after the
    cut, and credit its old ones again for the time the cut has already credited. Stripe
    expires a pending update that a later update conflicts with (its changelog of
    2026-09-30.endive: "If a subsequent update includes a conflicting cancel_at_period_end
    value, Stripe expires the existing pending update"); an earlier end is such a conflict.
    A `cancel_at` that cuts nothing (at or after the periods' ends) leaves it pending."""
    held = private(subscription).get(HELD)
    held_before = private(before).get(HELD)
    if held is None or held_before is None or held["invoice"] != held_before["invoice"]:
        return
    ends_before = {str(item["id"]): item_period(item)[1] for item in items_of(before)}
    cut = any(
        item_period(item)[1] < ends_before.get(str(item["id"]), item_period(item)[1])
        for item in items_of(subscription)
    )
    if not cut:
        return
    await _discard(ctx, subscription)
    await announce(ctx, EXPIRED, subscription, before)


def _shown(
    ctx: Context, subscription: Mapping[str, Any], fields: Mapping[str, Any], asked: Requested
) -> ApiObject:
    """`pending_update` as Stripe shows it (endive): what the change will set."""
    items = fields.get("items")
    return {
        "billing_cycle_anchor": fields.get("billing_cycle_anchor"),
        "cancel_at_period_end": asked.cancel_at_period_end,
        "discount": None,
        "discounts": None,
        "expires_at": _expires_at(ctx, subscription),
        "metadata": _shown_metadata(asked.metadata),
        "subscription_items": None if items is None else list(items["data"]),
        "trial_end": None,
        "trial_from_plan": None,
    }


def _expires_at(ctx: Context, subscription: Mapping[str, Any]) -> int:
    """Stripe: the trial's end or the current period's, whichever comes first, if within 23
    hours of the update; otherwise 23 hours after it."""
    now = ctx.now()
    candidates = [now + UPDATE_EXPIRES_SECONDS, current_period(subscription)[1]]
    trial_end = subscription["trial_end"]
    if trial_end is not None and int(trial_end) > now:
        candidates.append(int(trial_end))
    return min(candidates)


def _shown_metadata(update: MetadataUpdate | None) -> dict[str, str] | None:
    """The metadata the change merges in; a key it removes shows as "" (as it was sent)."""
    if update is None:
        return None
    if update is UNSET or not isinstance(update, Mapping):
        return {}
    return {key: "" if value is UNSET else str(value) for key, value in update.items()}


def _metadata_update(held: Mapping[str, Any], shown: Mapping[str, str] | None) -> Any:
    if held["clears_metadata"]:
        return UNSET
    return {key: UNSET if value == "" else value for key, value in (shown or {}).items()}


async def apply_if_paid(ctx: Context, subscription: ApiObject, invoice: Mapping[str, Any]) -> bool:
    """The invoice the subscription's pending update waits for is paid: the change applies
    (its item rows written now) and `pending_update` is cleared; whether it was that
    invoice."""
    held = private(subscription).get(HELD)
    if held is None or held["invoice"] != invoice["id"] or subscription["status"] in ENDED:
        return False
    before = snapshot(subscription)
    fields = held["fields"]
    kept = {str(i["id"]) for i in (fields["items"]["data"] if "items" in fields else [])}
    removed = [i for i in items_of(subscription) if "items" in fields and str(i["id"]) not in kept]
    _release(subscription)
    subscription.update(fields)
    facts = private(subscription)
    facts.update({k: v for k, v in held["facts"].items() if k not in _OWN_FACTS})
    for key in held["dropped_facts"]:
        if key not in _OWN_FACTS:
            facts.pop(key, None)
    note_used(subscription, _held_uses(held))
    update = _metadata_update(held, before["pending_update"]["metadata"])
    subscription["metadata"] = apply_metadata(subscription["metadata"], update)
    ensure(bool(items_of(subscription)), f"{subscription['id']} keeps an item once applied")
    await store_item_rows(ctx, subscription, removed)
    await save(ctx, subscription)
    await announce(ctx, "customer.subscription.updated", subscription, before)
    await announce(ctx, APPLIED, subscription, before)
    return True


async def expire_if_due(ctx: Context, subscription: ApiObject) -> None:
    """At `pending_update.expires_at` (the subscription's first work then): the change is
    discarded and its invoice, still unpaid, voided."""
    pending = subscription.get("pending_update")
    if pending is None or subscription["status"] in ENDED:
        return
    expires_at = int(pending["expires_at"])
    if expires_at > ctx.now():
        return
    before = snapshot(subscription)
    # Its invoice is voided when the update expired, however late this work runs.
    await _discard(ctx, subscription, voided_at=expires_at)
    await save(ctx, subscription)
    await announce(ctx, "customer.subscription.updated", subscription, before)
    await announce(ctx, EXPIRED, subscription, before)


def forget(subscription: ApiObject) -> None:
    """The subscription ends: a change held for it can no longer apply. Its invoice is left
    as it is (an ended subscription's open invoices stay open, as Stripe leaves them)."""
    if subscription.get("pending_update") is not None:
        _release(subscription)


def items_after(subscription: Mapping[str, Any]) -> list[ApiObject]:
    """The items the subscription has, or, with a change pending, will have once it applies
    (what `/v1/subscription_items` answers with)."""
    pending = subscription.get("pending_update")
    if pending is not None and pending["subscription_items"] is not None:
        shown: list[ApiObject] = pending["subscription_items"]
        return shown
    return items_of(subscription)


async def _discard(ctx: Context, subscription: ApiObject, *, voided_at: int | None = None) -> None:
    held = private(subscription).get(HELD)
    if held is None:
        raise InvariantViolated(f"the pending update of {subscription['id']} is held privately")
    _release(subscription)
    invoice = await invoice_documents.load_invoice(ctx, str(held["invoice"]))
    if invoice["status"] == "open":
        await invoice_transitions.void(ctx, invoice, at=voided_at)
        await invoice_documents.save(ctx, invoice)
    # A `once` discount that invoice used is unused again, as the subscription's own terms
    # say now: the change it billed never happened.
    await forget_uses_by(ctx, str(held["invoice"]), _held_uses(held))


def _held_uses(held: Mapping[str, Any]) -> list[str]:
    """The `once` discounts the held change's invoice used up. A change held before they
    were kept apart carries the terms of all the subscription's discounts in its facts: the
    used ones among them (those used before it are used still)."""
    if USED in held:
        return [str(d) for d in held[USED]]
    terms = held["facts"].get(DISCOUNT_TERMS) or {}
    return [str(d) for d, found in terms.items() if found.get("used")]


def _release(subscription: ApiObject) -> None:
    """No change pending any more (its expiry no longer work due, once saved)."""
    private(subscription).pop(HELD, None)
    subscription["pending_update"] = None
