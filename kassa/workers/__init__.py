"""Background work that runs beside the API: retention now; webhook delivery and schedulers
later. Workers call services and the store, never the HTTP layer."""
