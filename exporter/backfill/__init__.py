"""History for ``promtool tsdb create-blocks-from openmetrics``: the store's windows and more.

``reader`` reads the store without writing (safe beside a running daemon),
``fetch`` asks the API for the Data Insights history the plan still holds
(inside the ledger), ``history`` keeps what ``fetch`` got in a JSON file beside
the database, ``render`` writes OpenMetrics. The ``backfill`` command itself is
``exporter.cli.backfill``.
"""
