"""Dashboard pages, one module per area; `PAGES` lists every route the dashboard serves."""
