"""The dashboard's read models, one module per page module in `kassa.dashboard.pages`: what
each page shows, read through the services and the store, and the actions it offers carried
out through the services' typed operations. Only the dashboard imports these."""
