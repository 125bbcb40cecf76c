"""The objects `../shared/tools/field_conformance.py` does not make, checked its way: each
made once through raw HTTP on a running server, then per type the share of Stripe's default
fields present (its fixtures) and the fields the stripe-python classes do not declare.

    python scripts/field_conformance_more.py http://127.0.0.1:8000 sk_test_...

Covers Checkout Sessions and their line items, Billing Meters (meter, event, adjustment,
event summary), credit notes, subscription schedules, ephemeral keys, customer sessions,
files, quotes, the customer portal's configurations and sessions, entitlements (feature,
product feature, active entitlement, summary), payment links, shipping rates, billing alerts
(alert, alert triggered), and billing credits (credit grant, balance summary, balance
transaction). Exits 1 when a default field is missing or an undeclared one is present.
Reuses the shared tool's fixtures and declarations (`FIXTURES`, `declared`), so both judge
alike.
"""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

SHARED_TOOLS = Path(__file__).resolve().parents[2] / "shared" / "tools"
sys.path.insert(0, str(SHARED_TOOLS))
from field_conformance import FIXTURES, declared  # noqa: E402

TYPES = (
    "checkout.session",
    "item",
    "billing.meter",
    "billing.meter_event",
    "billing.meter_event_adjustment",
    "billing.meter_event_summary",
    "billing.alert",
    "billing.alert_triggered",
    "credit_note",
    "subscription_schedule",
    "ephemeral_key",
    "customer_session",
    "file",
    "quote",
    "billing_portal.configuration",
    "billing_portal.session",
    "entitlements.feature",
    "product_feature",
    "entitlements.active_entitlement",
    "entitlements.active_entitlement_summary",
    "payment_link",
    "shipping_rate",
    "billing.credit_grant",
    "billing.credit_balance_summary",
    "billing.credit_balance_transaction",
)
MOBILE_VERSION = "2020-08-27"
"""Ephemeral keys need a Stripe-Version: the one Stripe's mobile SDKs long pinned."""
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


class Collector:
    def __init__(self, url: str, key: str) -> None:
        self.http = httpx.Client(base_url=url, auth=(key, ""), timeout=30)
        self.got: dict[str, dict[str, Any]] = {}

    def keep(self, response: httpx.Response) -> dict[str, Any]:
        if response.status_code != 200:
            print(
                f"  {response.request.method} {response.request.url.path}: "
                f"{response.status_code} {response.text[:300]}"
            )
            return {}
        answer: dict[str, Any] = response.json()
        if answer.get("object"):
            self.got.setdefault(str(answer["object"]), answer)
        return answer

    def post(self, path: str, data: dict[str, str], **headers: str) -> dict[str, Any]:
        headers = {"Idempotency-Key": str(uuid.uuid4()), **headers}
        return self.keep(self.http.post(path, data=data, headers=headers))

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        return self.keep(self.http.get(path, params=params))

    def first_of(self, page: dict[str, Any], name: str) -> None:
        for obj in page.get("data", [])[:1]:
            self.got.setdefault(name, obj)


def collect(c: Collector) -> None:
    customer = c.post(
        "/v1/customers",
        {
            "email": "conformance@example.com",
            "payment_method": "pm_card_visa",
            "invoice_settings[default_payment_method]": "pm_card_visa",
        },
    )["id"]
    product = c.post("/v1/products", {"name": "Conformance"})["id"]
    monthly = c.post(
        "/v1/prices",
        {
            "product": product,
            "currency": "usd",
            "unit_amount": "1000",
            "recurring[interval]": "month",
        },
    )["id"]
    once = c.post("/v1/prices", {"product": product, "currency": "usd", "unit_amount": "500"})
    session = c.post(
        "/v1/checkout/sessions",
        {
            "mode": "payment",
            "success_url": "https://example.com/ok",
            "line_items[0][price]": once["id"],
            "line_items[0][quantity]": "2",
        },
    )
    if session:
        c.first_of(c.get(f"/v1/checkout/sessions/{session['id']}/line_items"), "item")
    meter = c.post(
        "/v1/billing/meters",
        {
            "display_name": "Calls",
            "event_name": "conformance_calls",
            "default_aggregation[formula]": "sum",
        },
    )
    usage = {
        "event_name": "conformance_calls",
        "payload[stripe_customer_id]": customer,
        "payload[value]": "3",
    }
    c.post("/v1/billing/meter_events", {**usage, "identifier": "conformance-1"})
    c.post(
        "/v1/billing/meter_event_adjustments",
        {
            "event_name": "conformance_calls",
            "type": "cancel",
            "cancel[identifier]": "conformance-1",
        },
    )
    c.post("/v1/billing/meter_events", {**usage, "identifier": "conformance-2"})
    hour = int(time.time()) // 3600 * 3600
    if meter:
        c.first_of(
            c.get(
                f"/v1/billing/meters/{meter['id']}/event_summaries",
                customer=customer,
                start_time=hour - 7200,
                end_time=hour + 3600,
            ),
            "billing.meter_event_summary",
        )
    invoice = c.post("/v1/invoices", {"customer": customer})["id"]
    c.post(
        "/v1/invoiceitems",
        {"customer": customer, "invoice": invoice, "amount": "500", "currency": "usd"},
    )
    c.post(f"/v1/invoices/{invoice}/finalize", {})
    c.post("/v1/credit_notes", {"invoice": invoice, "amount": "100"})
    c.post(
        "/v1/subscription_schedules",
        {
            "customer": customer,
            "start_date": "now",
            "phases[0][items][0][price]": monthly,
            "phases[0][duration][interval]": "month",
            "phases[0][duration][interval_count]": "2",
        },
    )
    c.post("/v1/ephemeral_keys", {"customer": customer}, **{"Stripe-Version": MOBILE_VERSION})
    c.post(
        "/v1/customer_sessions",
        {"customer": customer, "components[payment_element][enabled]": "true"},
    )
    quote = c.post(
        "/v1/quotes",
        {
            "customer": customer,
            "line_items[0][price]": monthly,
            "line_items[1][price]": once["id"],
            "line_items[1][quantity]": "2",
        },
    )
    if quote:
        c.post(f"/v1/quotes/{quote['id']}/finalize", {})
    configuration = c.post(
        "/v1/billing_portal/configurations",
        {
            "features[invoice_history][enabled]": "true",
            "features[payment_method_update][enabled]": "true",
            "business_profile[privacy_policy_url]": "https://example.com/privacy",
        },
    )
    if configuration:
        c.post(
            "/v1/billing_portal/sessions",
            {
                "customer": customer,
                "configuration": configuration["id"],
                "return_url": "https://example.com/account",
                "flow_data[type]": "payment_method_update",
                "flow_data[after_completion][type]": "hosted_confirmation",
            },
        )
    c.keep(
        c.http.post(
            "/v1/files",
            data={"purpose": "dispute_evidence"},
            files={"file": ("evidence.png", PNG, "image/png")},
        )
    )


def collect_entitlements(c: Collector) -> None:
    """A feature on a product, a subscription to it granting the entitlement, and the
    summary its event carries."""
    feature = c.post(
        "/v1/entitlements/features",
        {"name": "Conformance", "lookup_key": f"conformance-{uuid.uuid4().hex[:8]}"},
    )
    product = c.post("/v1/products", {"name": "Entitled"})["id"]
    c.post(f"/v1/products/{product}/features", {"entitlement_feature": feature.get("id", "")})
    price = c.post(
        "/v1/prices",
        {
            "product": product,
            "currency": "usd",
            "unit_amount": "900",
            "recurring[interval]": "month",
        },
    )["id"]
    customer = c.post(
        "/v1/customers",
        {
            "payment_method": "pm_card_visa",
            "invoice_settings[default_payment_method]": "pm_card_visa",
        },
    )["id"]
    c.post("/v1/subscriptions", {"customer": customer, "items[0][price]": price})
    c.first_of(
        c.get("/v1/entitlements/active_entitlements", customer=customer),
        "entitlements.active_entitlement",
    )
    events = c.http.get(
        "/v1/events", params={"type": "entitlements.active_entitlement_summary.updated"}
    ).json()
    for event in events.get("data", [])[:1]:
        c.got.setdefault("entitlements.active_entitlement_summary", event["data"]["object"])


def collect_alerts(c: Collector) -> None:
    """A billing alert on a meter, and the `billing.alert_triggered` its crossing sends."""
    event_name = f"conformance_alerts_{uuid.uuid4().hex[:8]}"
    meter = c.post(
        "/v1/billing/meters",
        {"display_name": "Alerts", "event_name": event_name, "default_aggregation[formula]": "sum"},
    )
    customer = c.post("/v1/customers", {"email": "alerts@example.com"})["id"]
    c.post(
        "/v1/billing/alerts",
        {
            "alert_type": "usage_threshold",
            "title": "Conformance",
            "usage_threshold[gte]": "5",
            "usage_threshold[meter]": meter.get("id", ""),
            "usage_threshold[recurrence]": "one_time",
            "usage_threshold[filters][0][type]": "customer",
            "usage_threshold[filters][0][customer]": customer,
        },
    )
    usage = {"event_name": event_name, "payload[stripe_customer_id]": customer}
    c.post("/v1/billing/meter_events", {**usage, "payload[value]": "5"})
    events = c.http.get("/v1/events", params={"type": "billing.alert.triggered"}).json()
    for event in events.get("data", [])[:1]:
        c.got.setdefault("billing.alert_triggered", event["data"]["object"])


def collect_payment_links(c: Collector) -> None:
    """A payment link selling a one-time price, with a completed-sessions limit."""
    product = c.post("/v1/products", {"name": "Linked"})["id"]
    price = c.post("/v1/prices", {"product": product, "currency": "usd", "unit_amount": "700"})
    c.post(
        "/v1/payment_links",
        {
            "line_items[0][price]": price.get("id", ""),
            "line_items[0][quantity]": "1",
            "restrictions[completed_sessions][limit]": "10",
        },
    )


def collect_shipping_rates(c: Collector) -> None:
    """A shipping rate with a delivery estimate."""
    c.post(
        "/v1/shipping_rates",
        {
            "display_name": "Ground",
            "type": "fixed_amount",
            "fixed_amount[amount]": "500",
            "fixed_amount[currency]": "usd",
            "delivery_estimate[minimum][unit]": "business_day",
            "delivery_estimate[minimum][value]": "5",
        },
    )


def collect_billing_credits(c: Collector) -> None:
    """A credit grant on metered prices, its customer's balance summary and the grant's
    `credits_granted` transaction."""
    customer = c.post("/v1/customers", {"email": "credits@example.com"})["id"]
    c.post(
        "/v1/billing/credit_grants",
        {
            "customer": customer,
            "amount[type]": "monetary",
            "amount[monetary][currency]": "usd",
            "amount[monetary][value]": "1000",
            "applicability_config[scope][price_type]": "metered",
            "name": "Conformance",
        },
    )
    c.get(
        "/v1/billing/credit_balance_summary",
        customer=customer,
        **{
            "filter[type]": "applicability_scope",
            "filter[applicability_scope][price_type]": "metered",
        },
    )
    c.first_of(
        c.get("/v1/billing/credit_balance_transactions", customer=customer),
        "billing.credit_balance_transaction",
    )


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    collector = Collector(sys.argv[1], sys.argv[2])
    collect(collector)
    collect_entitlements(collector)
    collect_alerts(collector)
    collect_payment_links(collector)
    collect_shipping_rates(collector)
    collect_billing_credits(collector)
    total = present = invented_total = 0
    for name in TYPES:
        obj = collector.got.get(name)
        wanted = set(FIXTURES.get(name, {}))
        if obj is None:
            print(f"{name:32s} not obtained")
            total += len(wanted)
            continue
        names = declared(name)
        if names:
            wanted &= names | {"object", "id"}
        have = set(obj)
        invented = sorted(have - (names or wanted) - wanted)
        total += len(wanted)
        present += len(wanted & have)
        invented_total += len(invented)
        print(
            f"{name:32s} {len(wanted & have):3d}/{len(wanted):<3d} "
            f"missing={sorted(wanted - have)} invented={invented}"
        )
    share = 100.0 * present / total if total else 0.0
    print(
        f"conformance: {share:.1f}% of Stripe's default fields present over {len(TYPES)} "
        f"object types; {invented_total} fields Stripe does not declare"
    )
    return 0 if share == 100.0 and invented_total == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
