"""The HTTP edge: routes, form decoding, auth, idempotency, error mapping, pagination."""
