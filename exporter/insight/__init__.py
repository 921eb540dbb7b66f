"""Data Insights: daily (and hourly) usage and quality, exactly as Agora publishes them.

Modules, in data-flow order: ``series`` (one request shape), ``plan`` (the
budgets: what one pass costs, how many passes a day fit), ``schedule`` (pure:
frames, when the next pass runs, which days are late), ``poller`` (one
request per series through the ledger, with the peak-name fallback),
``passes`` (runs a budget's pass when it is due), ``view`` (pure: the newest
published point per series, for the collector and the status page).

This file imports nothing on purpose: the collector imports ``view`` and must
not pull in the HTTP client through the package.
"""
