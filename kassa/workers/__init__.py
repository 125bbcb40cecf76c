"""Background jobs that run beside the API: webhook delivery, settlement, retention. Each is
a loop that stops when its `stopping` event is set; `kassa.runtime.JOBS` registers them for
`kassa serve` and `kassa worker`. Workers call services and the store, never another edge
(the HTTP layer or the dashboard)."""
