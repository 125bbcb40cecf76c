// Scenarios run through the official Stripe SDK for Node (stripe-node, pinned in package.json
// to the release whose API version is Kassa's) against a running `kassa serve`:
//
//     node scenarios.mjs <scenario>     (KASSA_URL, KASSA_SECRET_KEY in the environment)
//
// Each scenario prints one JSON object, what it saw, on stdout; tests/test_stripe_node.py
// asserts on it. A failure the scenario does not expect propagates: the process exits 1
// with the SDK's error on stderr.
import http from 'node:http';
import Stripe from 'stripe';

const POLL_INTERVAL_MS = 100;
const POLLS_MAX = 300; // 30 s: a clock's advance, a webhook delivery
const CUSTOMERS_PAGED = 5;

const base = new URL(process.env.KASSA_URL);
const secretKey = process.env.KASSA_SECRET_KEY;

function client(key = secretKey) {
  return new Stripe(key, {
    host: base.hostname,
    port: Number(base.port),
    protocol: base.protocol.replace(':', ''),
    maxNetworkRetries: 0,
  });
}

const stripe = client();

async function failure(call) {
  try {
    await call();
  } catch (error) {
    return {
      class: error.constructor.name,
      type: error.type,
      status: error.statusCode,
      code: error.code ?? null,
      param: error.param ?? null,
      decline_code: error.decline_code ?? null,
      request_id: error.requestId ?? null,
      message: error.message,
    };
  }
  throw new Error('the call was expected to fail and succeeded');
}

async function poll(read, done) {
  for (let i = 0; i < POLLS_MAX; i++) {
    const value = await read();
    if (done(value)) return value;
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
  throw new Error(`gave up waiting after ${POLLS_MAX} polls`);
}

// Customers: nested form parameters, metadata, expand, auto-pagination, search, delete.
async function customers() {
  const tag = `node-${Date.now()}`;
  const made = await stripe.customers.create({
    email: `${tag}@example.com`,
    metadata: { tag, order: '1' },
    address: { line1: '1 Main St', city: 'Springfield', country: 'US' },
    invoice_settings: { custom_fields: [{ name: 'PO', value: '42' }] },
    payment_method: 'pm_card_visa',
    expand: ['invoice_settings.default_payment_method'],
  });
  const updated = await stripe.customers.update(made.id, {
    name: 'Ada Node',
    metadata: { order: '' },
    invoice_settings: { default_payment_method: (await stripe.customers.listPaymentMethods(made.id)).data[0].id },
  });
  const retrieved = await stripe.customers.retrieve(made.id, {
    expand: ['invoice_settings.default_payment_method'],
  });
  for (let i = 0; i < CUSTOMERS_PAGED; i++) {
    await stripe.customers.create({ email: `${tag}-${i}@example.com` });
  }
  const iterated = [];
  for await (const customer of stripe.customers.list({ limit: 2 })) {
    iterated.push(customer.id);
  }
  const collected = await stripe.customers.list({ limit: 2 }).autoPagingToArray({ limit: 100 });
  const found = await poll(
    () => stripe.customers.search({ query: `metadata['tag']:'${tag}'` }),
    (page) => page.data.length === 1,
  );
  const deleted = await stripe.customers.del(made.id);
  const afterDelete = await failure(() => stripe.customers.update(made.id, { name: 'x' }));
  return {
    id: made.id,
    metadata: updated.metadata,
    address_city: made.address.city,
    custom_fields: made.invoice_settings.custom_fields,
    name: retrieved.name,
    expanded_default_payment_method: retrieved.invoice_settings.default_payment_method.object,
    iterated: iterated.length,
    iterated_distinct: new Set(iterated).size,
    collected: collected.length,
    searched: found.data.map((customer) => customer.id),
    deleted: deleted.deleted,
    after_delete: afterDelete,
  };
}

// Payments: a confirmed PaymentIntent, a partial refund, 3-D Secure, a decline, a capture.
async function payments() {
  const customer = await stripe.customers.create({ email: 'payer@example.com' });
  const paid = await stripe.paymentIntents.create({
    amount: 2000,
    currency: 'usd',
    customer: customer.id,
    payment_method: 'pm_card_visa',
    confirm: true,
    automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
  });
  const refund = await stripe.refunds.create({ payment_intent: paid.id, amount: 500 });
  const charge = await poll(
    () => stripe.charges.retrieve(paid.latest_charge, { expand: ['balance_transaction'] }),
    (found) => found.balance_transaction !== null,
  );
  const authenticate = await stripe.paymentIntents.create({
    amount: 1500,
    currency: 'usd',
    payment_method: 'pm_card_threeDSecure2Required',
    confirm: true,
    return_url: 'https://example.com/return',
  });
  const declined = await failure(() =>
    stripe.paymentIntents.create({
      amount: 1000,
      currency: 'usd',
      payment_method: 'pm_card_chargeDeclinedInsufficientFunds',
      confirm: true,
      automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
    }),
  );
  const held = await stripe.paymentIntents.create({
    amount: 3000,
    currency: 'usd',
    payment_method: 'pm_card_visa',
    confirm: true,
    capture_method: 'manual',
    automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
  });
  const captured = await stripe.paymentIntents.capture(held.id, { amount_to_capture: 2500 });
  return {
    paid: { status: paid.status, amount_received: paid.amount_received },
    refund: { status: refund.status, amount: refund.amount, charge: refund.charge },
    charge: {
      id: charge.id,
      amount_refunded: charge.amount_refunded,
      balance_transaction: charge.balance_transaction.object,
      net: charge.balance_transaction.net,
      fee: charge.balance_transaction.fee,
    },
    authenticate: {
      status: authenticate.status,
      next_action: authenticate.next_action.type,
      redirect_url: authenticate.next_action.redirect_to_url.url,
    },
    declined,
    held: held.status,
    captured: { status: captured.status, amount_received: captured.amount_received },
  };
}

// Errors and the request conventions: error classes, Request-Id, idempotency.
async function errors() {
  const invalidEmail = await failure(() => stripe.customers.create({ email: 'not-an-email' }));
  const unknown = await failure(() => stripe.customers.create({ favourite_colour: 'green' }));
  const missing = await failure(() => stripe.customers.retrieve('cus_doesnotexist'));
  const badKey = await failure(() => client('sk_test_doesnotexist').customers.list());
  const publishable = await failure(() =>
    client(process.env.KASSA_PUBLISHABLE_KEY).customers.list(),
  );
  const key = `node-key-${Date.now()}`;
  const first = await stripe.customers.create({ email: 'once@example.com' }, { idempotencyKey: key });
  const replay = await stripe.customers.create({ email: 'once@example.com' }, { idempotencyKey: key });
  const reused = await failure(() =>
    stripe.customers.create({ email: 'other@example.com' }, { idempotencyKey: key }),
  );
  return {
    invalid_email: invalidEmail,
    unknown,
    missing,
    bad_key: badKey,
    publishable,
    key,
    first: {
      id: first.id,
      request_id: first.lastResponse.requestId,
      idempotency_key: first.lastResponse.idempotencyKey ?? null,
    },
    replay: {
      id: replay.id,
      request_id: replay.lastResponse.requestId,
      replayed: replay.lastResponse.headers['idempotent-replayed'] ?? null,
      idempotency_key: replay.lastResponse.idempotencyKey ?? null,
    },
    reused,
  };
}

// Billing on a test clock: a catalog, a subscription, a year's renewals, an upgrade, cancel.
async function billing() {
  const product = await stripe.products.create({
    name: 'Node plan',
    default_price_data: { unit_amount: 1500, currency: 'usd', recurring: { interval: 'month' } },
  });
  const coupon = await stripe.coupons.create({ percent_off: 20, duration: 'once' });
  const start = Math.floor(Date.UTC(2026, 0, 31, 12) / 1000);
  const clock = await stripe.testHelpers.testClocks.create({ frozen_time: start, name: 'node' });
  const customer = await stripe.customers.create({
    test_clock: clock.id,
    payment_method: 'pm_card_visa',
    invoice_settings: { default_payment_method: 'pm_card_visa' },
  });
  const subscription = await stripe.subscriptions.create({
    customer: customer.id,
    items: [{ price: product.default_price, quantity: 2 }],
    discounts: [{ coupon: coupon.id }],
    expand: ['latest_invoice'],
  });
  const advanced = await stripe.testHelpers.testClocks.advance(clock.id, {
    frozen_time: start + 70 * 86400,
  });
  const ready = await poll(
    () => stripe.testHelpers.testClocks.retrieve(clock.id),
    (found) => found.status === 'ready',
  );
  const invoices = await stripe.invoices
    .list({ subscription: subscription.id, limit: 100 })
    .autoPagingToArray({ limit: 100 });
  const item = (await stripe.subscriptionItems.list({ subscription: subscription.id })).data[0];
  const preview = await stripe.invoices.createPreview({
    customer: customer.id,
    subscription: subscription.id,
    subscription_details: { items: [{ id: item.id, quantity: 3 }], proration_behavior: 'none' },
  });
  const canceled = await stripe.subscriptions.cancel(subscription.id);
  return {
    subscription: {
      status: subscription.status,
      latest_invoice: {
        status: subscription.latest_invoice.status,
        total: subscription.latest_invoice.total,
        billing_reason: subscription.latest_invoice.billing_reason,
      },
      period_end: subscription.items.data[0].current_period_end,
    },
    advanced: advanced.status,
    ready: ready.frozen_time,
    invoices: invoices
      .map((invoice) => ({
        status: invoice.status,
        billing_reason: invoice.billing_reason,
        amount_paid: invoice.amount_paid,
        period_start: invoice.lines.data[0].period.start,
      }))
      .sort((a, b) => a.period_start - b.period_start),
    preview_total: preview.total,
    canceled: canceled.status,
  };
}

// Webhooks: a delivery from Kassa verified by stripe-node's own signature check.
async function webhooks() {
  const bodies = [];
  const receiver = http.createServer((request, response) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      bodies.push({ raw: Buffer.concat(chunks), signature: request.headers['stripe-signature'] });
      response.writeHead(200).end();
    });
  });
  await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  try {
    const endpoint = await stripe.webhookEndpoints.create({
      url: `http://127.0.0.1:${receiver.address().port}/hook`,
      enabled_events: ['customer.created'],
    });
    const customer = await stripe.customers.create({ email: 'hooked@example.com' });
    await poll(
      async () => bodies.length,
      (count) => count > 0,
    );
    const [delivery] = bodies;
    const event = stripe.webhooks.constructEvent(delivery.raw, delivery.signature, endpoint.secret);
    const forged = await failure(async () =>
      stripe.webhooks.constructEvent(delivery.raw, delivery.signature, 'whsec_not_the_secret'),
    );
    const header = stripe.webhooks.generateTestHeaderString({
      payload: delivery.raw.toString(),
      secret: endpoint.secret,
    });
    return {
      event: { type: event.type, object_id: event.data.object.id, api_version: event.api_version },
      customer: customer.id,
      forged: forged.class,
      test_header_verifies:
        stripe.webhooks.constructEvent(delivery.raw, header, endpoint.secret).id === event.id,
    };
  } finally {
    receiver.close();
  }
}

const SCENARIOS = { customers, payments, errors, billing, webhooks };

const name = process.argv[2];
if (!(name in SCENARIOS)) {
  console.error(`unknown scenario ${name}: one of ${Object.keys(SCENARIOS).join(', ')}`);
  process.exit(2);
}
process.stdout.write(JSON.stringify(await SCENARIOS[name]()) + '\n');
