"""Kassa: a self-hosted payments platform that speaks the Stripe API."""

API_VERSION = "2026-10-28.endive"
"""The Stripe API version whose object shapes Kassa returns."""

__version__ = "0.1.0"
