"""The web dashboard served by `kassa serve` at `/dashboard` (see `kassa.dashboard.app`)."""
