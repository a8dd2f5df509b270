"""Routing: calibration, the budget controller, tier health, and the Router that composes a decision."""
