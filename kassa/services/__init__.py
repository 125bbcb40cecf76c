"""Domain logic, one module per Stripe resource family. No HTTP types here."""
