"""The online decision: the routing rule, named tiers, the predictor and worker ports, the
micro-batcher, tier health, the budget over a ledger, the dispatcher, and hot reload of the
predictor (docs/ARCHITECTURE.md)."""
