"""Where the budget is kept when several gateways share it: the Redis ledger (an adapter behind
the routing core's :class:`~routet2i.routing.ledger.BudgetLedger`), its Lua scripts and the
``budget`` settings block that picks the store."""
