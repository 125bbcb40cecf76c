"""`kassa trigger EVENT_TYPE`: make Kassa emit an event by the API calls that cause it, as the
Stripe CLI's `stripe trigger` does (`recipes`: what each event type takes; `runner`: running
one against a server)."""
