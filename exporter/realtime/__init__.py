"""The real-time pipeline: 20-second windows of usage and quality, polled within the quota.

``series`` is one request shape, ``poller`` one poll of it (cursor -> query ->
ledger -> client -> store), ``view`` which stored window each series shows at
scrape time. Imports ``timing``, ``agora``, ``catalog``, ``quota`` and ``store``.
"""
