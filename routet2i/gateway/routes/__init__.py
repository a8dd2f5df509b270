"""The gateway's HTTP routes, one module per group; each exposes ``build_router()``."""
