"""Spending Agora's quota: the ledger's rules, the ledger gate, retries, request statistics.

``rules`` is pure arithmetic (periods, per-budget intervals, gap-free checks),
``ledger`` the gate every request passes before it leaves, ``retry`` the retry
policy every poller shares, ``request_stats`` what was sent and how it ended.
Imports ``timing``, ``agora``, ``catalog``, ``settings`` and ``store``.
"""
