"""Payment Links (`/v1/payment_links`): create, retrieve, update, list (`active`), and the line
items (`GET .../line_items`, `expand[]=line_items`). Stripe's reference:
docs.stripe.com/api/payment_links.

A link is a reusable, public `url` on Kassa's hosted Checkout: each visit makes a Checkout
Session from the link (`open_link`: its `payment_link` set, the link's settings carried over)
and sends the browser to it. The mode follows the prices, as on Stripe: subscription when a
line's price is recurring, else payment. The link's line items are checked as a session's
are when the link is made or changed (`checkout_sessions.link_line_items`), so that a visit
makes a session Checkout takes; a line's `price_data` makes an inline price then, once: the
link's own (`inline_prices`), which each visit's session names by id. Completed sessions are
counted on the link (`payment_link_documents.count_completed_session`); once
`restrictions[completed_sessions]` is reached, or the link is inactive, its page says it is
no longer available.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlsplit

from kassa.errors import InvalidParameter, MissingParameter, ResourceMissing
from kassa.ids import new_id
from kassa.params import UNSET, apply_metadata
from kassa.services import checkout_sessions, checkout_shipping, events
from kassa.services.billing import prices
from kassa.services.checkout_session_params import CreateCheckoutSession
from kassa.services.checkout_sessions import LinkOrigin
from kassa.services.context import Context
from kassa.services.line_item_lists import HeldItems
from kassa.services.listing import load_live_object
from kassa.services.payment_link_documents import (
    blank_link,
    hosted_confirmation,
    inline_prices,
    is_available,
    private,
    public,
    redirect,
    set_limit,
)
from kassa.services.payment_link_params import (
    CREATE_PARAMS,
    LIST_FILTERS,
    UPDATE_PARAMS,
    CreatePaymentLink,
    LinkSettings,
    UpdatePaymentLink,
)
from kassa.services.resource import (
    ApiObject,
    Operation,
    Resource,
    document_copy,
    no_params,
    request_parser,
)
from kassa.store.tables import PAYMENT_LINKS, PRIVATE

EVENT_TYPES: Final = ("payment_link.created", "payment_link.updated")
SUBMIT_TYPES_SHOWN: Final = {"payment": ("auto", "pay"), "subscription": ("auto", "subscribe")}
"""The `submit_type`s whose button Kassa's page shows: it says Pay, or Subscribe."""
_NOT_HONOURED: Final = "Kassa does not support"
PAYMENT_INTENT_TERMS: Final = ("capture_method", "description", "metadata", "setup_future_usage")
"""What a link's `payment_intent_data` carries to its sessions (all a link takes of it)."""
SUBSCRIPTION_TERMS: Final = ("description", "metadata", "trial_period_days")
"""What a link's `subscription_data` carries to its sessions (all a link takes of it)."""


def _refuse(param: str, value: object, reason: str) -> InvalidParameter:
    return InvalidParameter(f"{_NOT_HONOURED} {param}={value} yet: {reason}", param=param)


# --- create -----------------------------------------------------------------------------------


async def create_payment_link(ctx: Context, request: CreatePaymentLink) -> ApiObject:
    entries = request.line_items or []
    if not entries:
        raise MissingParameter("line_items")
    mode = await _mode(ctx, entries)
    lines = await checkout_sessions.link_line_items(ctx, _line_request(mode, entries))
    currency = str(lines[0]["currency"])
    if request.currency is not None and request.currency != currency:
        raise InvalidParameter(
            f"The currency {request.currency} is not the line items' prices' ({currency}).",
            param="currency",
        )
    link = blank_link(ctx, new_id("plink"), mode, currency)
    link[PRIVATE] = {
        "mode": mode,
        "line_items": lines,
        "completed_sessions": 0,
        "inline_prices": _made_inline(entries, lines),
    }
    _apply_settings(link, request)
    await _apply_shipping(ctx, link, request)
    await _check_session_request(ctx, link)
    await ctx.tx.insert_object(PAYMENT_LINKS, ctx.account_id, link)
    shown = public(link)
    await events.announce(ctx, "payment_link.created", shown)
    return shown


async def _mode(ctx: Context, entries: list[dict[str, Any]]) -> str:
    """Stripe's rule: a link with a recurring price makes subscriptions (a `price_data`'s
    own `recurring` says, before its price is made). An entry with neither `price` nor
    `price_data` is left for Checkout's checks to name."""
    for index, entry in enumerate(entries):
        if entry.get("price_data") is not None:
            recurring = entry["price_data"].get("recurring")
        elif entry.get("price") is not None:
            param = f"line_items[{index}][price]"
            price = await prices.load_price(ctx, str(entry["price"]), param=param)
            recurring = price.get("recurring")
        else:
            continue
        if recurring is not None:
            return "subscription"
    return "payment"


def _made_inline(entries: list[dict[str, Any]], lines: list[ApiObject]) -> list[str]:
    """The prices made from the entries' `price_data`: the link's own."""
    return [
        str(line["price"]["id"])
        for entry, line in zip(entries, lines, strict=True)
        if entry.get("price_data") is not None
    ]


def _line_request(mode: str, entries: list[dict[str, Any]]) -> CreateCheckoutSession:
    return CreateCheckoutSession(mode=mode, line_items=entries)


def _entries(link: ApiObject) -> list[dict[str, Any]]:
    """The link's line items as a session's `line_items[]` names them."""
    return [
        {
            "price": line["price"]["id"],
            "quantity": line["quantity"],
            "adjustable_quantity": line["adjustable_quantity"],
        }
        for line in private(link)["line_items"]
    ]


async def _check_session_request(ctx: Context, link: ApiObject) -> None:
    """What a visit will ask of Checkout, checked now: a link Checkout would refuse is not
    made (nothing is written: the checks write nothing, the request naming prices by id)."""
    await checkout_sessions.link_line_items(ctx, session_request(link), inline_prices(link))


# --- settings (create and update) ---------------------------------------------------------------


def _apply_settings(link: ApiObject, request: LinkSettings) -> None:
    """The settings `request` sends, on `link`; a value Kassa's Checkout cannot honour is a
    400 naming it (`_check_honoured`) before anything is written."""
    mode = str(private(link)["mode"])
    _check_honoured(request, mode)
    _check_mode_settings(request, mode)
    if request.after_completion is not None:
        link["after_completion"] = _after_completion(request.after_completion)
    for name in ("allow_promotion_codes", "customer_creation", "submit_type"):
        value = getattr(request, name)
        if value is not None:
            link[name] = value
    if request.inactive_message is not None:
        link["inactive_message"] = (
            None if request.inactive_message is UNSET else request.inactive_message
        )
    if request.payment_method_types is not None:
        link["payment_method_types"] = (
            None if request.payment_method_types is UNSET else list(request.payment_method_types)
        )
    if request.metadata is not None:
        link["metadata"] = apply_metadata(link["metadata"], request.metadata)
    if request.restrictions is not None:
        limit = None
        if request.restrictions is not UNSET:
            limit = int(request.restrictions["completed_sessions"]["limit"])
        set_limit(link, limit)
    _apply_intent_data(link, request)


async def _apply_shipping(ctx: Context, link: ApiObject, request: LinkSettings) -> None:
    """`shipping_address_collection` and `shipping_options` (rates by id, each checked as a
    session checks it: active, with an amount in the link's currency, payment mode only);
    `""` clears either."""
    collection = request.shipping_address_collection
    if collection is not None:
        link["shipping_address_collection"] = (
            None
            if collection is UNSET
            else checkout_shipping.address_collection(collection, str(private(link)["mode"]))
        )
    if request.shipping_options is not None:
        entries = [] if request.shipping_options is UNSET else list(request.shipping_options)
        options, _names = await checkout_shipping.shipping_options(
            ctx, entries, str(private(link)["mode"]), str(link["currency"])
        )
        link["shipping_options"] = options


def _check_honoured(request: LinkSettings, mode: str) -> None:
    """Settings Kassa takes only at the value that asks nothing of its page."""
    switches = {
        "automatic_tax[enabled]": (request.automatic_tax, "Kassa computes no automatic tax"),
        "invoice_creation[enabled]": (request.invoice_creation, "payment mode makes no invoice"),
        "phone_number_collection[enabled]": (
            request.phone_number_collection,
            "the hosted page collects an email and a card only",
        ),
    }
    for param, (given, reason) in switches.items():
        if given is not None and given["enabled"]:
            raise _refuse(param, "true", reason)
    if request.billing_address_collection == "required":
        raise _refuse(
            "billing_address_collection", "required", "the hosted page collects no address"
        )
    if request.payment_method_collection == "if_required":
        raise _refuse(
            "payment_method_collection", "if_required", "the hosted page always collects a card"
        )
    if request.submit_type is not None and request.submit_type not in SUBMIT_TYPES_SHOWN[mode]:
        raise _refuse(
            "submit_type",
            request.submit_type,
            f"the page's button says {'Subscribe' if mode == 'subscription' else 'Pay'}",
        )


def _check_mode_settings(request: LinkSettings, mode: str) -> None:
    """Each mode's own settings (Stripe: `subscription_data` needs a recurring price;
    `payment_intent_data` and `invoice_creation` are for payment mode)."""
    if request.subscription_data is not None and mode != "subscription":
        raise InvalidParameter(
            "subscription_data needs at least one line item with a recurring price.",
            param="subscription_data",
        )
    for name in ("payment_intent_data", "invoice_creation"):
        if getattr(request, name) is not None and mode != "payment":
            raise InvalidParameter(
                f"{name} can only be used with one-time prices (payment mode).", param=name
            )


def _after_completion(sent: dict[str, Any]) -> ApiObject:
    kind = sent["type"]
    other = "redirect" if kind == "hosted_confirmation" else "hosted_confirmation"
    if sent.get(other) is not None:
        raise InvalidParameter(
            f"after_completion[{other}] cannot be given with after_completion[type]={kind}.",
            param=f"after_completion[{other}]",
        )
    if kind == "hosted_confirmation":
        message = (sent.get("hosted_confirmation") or {}).get("custom_message")
        return hosted_confirmation(message)
    target = sent.get("redirect")
    if target is None:
        raise MissingParameter("after_completion[redirect][url]")
    url = str(target["url"])
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise InvalidParameter(
            "after_completion[redirect][url] must be an http or https URL.",
            param="after_completion[redirect][url]",
        )
    return redirect(url)


def _apply_intent_data(link: ApiObject, request: LinkSettings) -> None:
    """`payment_intent_data` and `subscription_data`: the fields sent replace the link's
    (metadata merged as metadata is)."""
    for name, sent in (
        ("payment_intent_data", request.payment_intent_data),
        ("subscription_data", request.subscription_data),
    ):
        if sent is None:
            continue
        shown = link[name]
        for key, value in sent.items():
            if key == "metadata":
                shown["metadata"] = apply_metadata(shown["metadata"] or {}, value)
            else:
                shown[key] = value


# --- the session a visit makes ----------------------------------------------------------------


def session_request(link: ApiObject) -> CreateCheckoutSession:
    """The Checkout Session a visit to the link makes: its line items, its promotion codes,
    its metadata (Stripe copies a link's metadata to its sessions), its customer creation
    (payment mode), and what its intents or subscription take; `success_url` is the
    redirect's URL, else none (the page shows the confirmation)."""
    mode = str(private(link)["mode"])
    after = link["after_completion"]
    payment_data = _sent_fields(link["payment_intent_data"], PAYMENT_INTENT_TERMS)
    subscription_data = _sent_fields(link["subscription_data"], SUBSCRIPTION_TERMS)
    return CreateCheckoutSession(
        mode=mode,
        line_items=_entries(link),
        success_url=after["redirect"]["url"] if after["type"] == "redirect" else None,
        customer_creation=link["customer_creation"] if mode == "payment" else None,
        metadata=dict(link["metadata"]) or None,
        payment_method_types=["card"],
        allow_promotion_codes=link["allow_promotion_codes"] or None,
        payment_intent_data=payment_data or None,
        subscription_data=subscription_data or None,
        shipping_address_collection=link["shipping_address_collection"],
        shipping_options=[
            {"shipping_rate": option["shipping_rate"]} for option in link["shipping_options"]
        ]
        or None,
    )


def _sent_fields(data: ApiObject | None, names: tuple[str, ...]) -> dict[str, Any]:
    """The fields `names` of the link's intent or subscription data that hold something."""
    given = data or {}
    return {name: given[name] for name in names if given.get(name) not in (None, {})}


async def open_link(ctx: Context, link: ApiObject) -> ApiObject | None:
    """A new Checkout Session from the link (its page's `url` is where the visitor goes), or
    None when the link no longer opens (inactive, or its completed sessions at their
    limit)."""
    if not is_available(link):
        return None
    after = link["after_completion"]
    confirmation = None
    if after["type"] == "hosted_confirmation":
        confirmation = after["hosted_confirmation"]["custom_message"]
    origin = LinkOrigin(str(link["id"]), confirmation, inline_prices(link))
    return await checkout_sessions.create_link_session(ctx, session_request(link), origin)


# --- read, update, list -------------------------------------------------------------------------


async def _load(ctx: Context, link_id: str) -> ApiObject:
    return await load_live_object(ctx, RESOURCE, link_id)


async def retrieve_payment_link(ctx: Context, link_id: str) -> ApiObject:
    return public(await _load(ctx, link_id))


async def update_payment_link(ctx: Context, request: UpdatePaymentLink) -> ApiObject:
    link = await _load(ctx, request.payment_link)
    before = public(link)
    lines_before = document_copy(private(link))["line_items"]
    _apply_settings(link, request)
    await _apply_shipping(ctx, link, request)
    if request.active is not None:
        link["active"] = request.active
    if request.line_items is not None:
        await _update_line_items(ctx, link, request.line_items)
    await _check_session_request(ctx, link)
    shown = public(link)
    # The line items are kept beside the object (shown only when expanded): a change to
    # them alone is written, and announces nothing an event could show.
    if shown != before or private(link)["line_items"] != lines_before:
        await ctx.tx.update_object(PAYMENT_LINKS, ctx.account_id, link)
    if shown != before:
        await events.announce(ctx, "payment_link.updated", shown, previous=before)
    return shown


async def _update_line_items(ctx: Context, link: ApiObject, sent: list[dict[str, Any]]) -> None:
    """Each named line item's `quantity` and `adjustable_quantity`, its amounts worked out
    again; the others stay as they are (Kassa's reading: an update names existing items)."""
    lines = private(link)["line_items"]
    ids = [line["id"] for line in lines]
    entries = _entries(link)
    for index, change in enumerate(sent):
        if change["id"] not in ids:
            raise ResourceMissing("item", str(change["id"]), param=f"line_items[{index}][id]")
        entry = entries[ids.index(change["id"])]
        for name in ("quantity", "adjustable_quantity"):
            if change.get(name) is not None:
                entry[name] = change[name]
    mode = str(private(link)["mode"])
    priced = await checkout_sessions.link_line_items(
        ctx, _line_request(mode, entries), inline_prices(link)
    )
    private(link)["line_items"] = [
        {**line, "id": line_id} for line, line_id in zip(priced, ids, strict=True)
    ]


async def _fetch(ctx: Context, link_id: str) -> ApiObject | None:
    """The link as an expansion shows it (a session's `payment_link`): without what only the
    store keeps."""
    found = await ctx.tx.get_object(PAYMENT_LINKS, ctx.account_id, link_id, lock=False)
    return None if found is None else public(found[0])


def _line_items_shown(link: ApiObject) -> list[ApiObject]:
    return [document_copy(line) for line in private(link)["line_items"]]


LINE_ITEMS: Final = HeldItems(lambda: RESOURCE, _line_items_shown)


RESOURCE: Resource = Resource(
    object_name="payment_link",
    id_prefix="plink",
    collection="payment_links",
    table=PAYMENT_LINKS,
    create=Operation(
        request_parser(CreatePaymentLink, CREATE_PARAMS, required=("line_items",)),
        create_payment_link,
        writes=True,
    ),
    retrieve=Operation(no_params, retrieve_payment_link, writes=False),
    update=Operation(
        request_parser(UpdatePaymentLink, UPDATE_PARAMS, ids=("payment_link",)),
        update_payment_link,
        writes=True,
    ),
    list_filters=LIST_FILTERS,
    list_view=public,
    sublists={LINE_ITEMS.name: LINE_ITEMS.sublist()},
    includable={"line_items": LINE_ITEMS.include},
    expandable={"shipping_options.shipping_rate": "shipping_rate"},
    fetch=_fetch,
    event_types=EVENT_TYPES,
)
