"""Call Inspector (opt-in per app): ongoing calls and their users' quality metrics.

Modules, in data-flow order: ``catalog`` (metric IDs -> families, units),
``plan`` (the call budgets: what a cycle costs, how often cycles run),
``frames`` (pure: what each request asks for), ``fetch`` (requests through
the ledger), ``gather`` (the paging loops), ``inspector`` (one cycle:
search, choose, fetch, store), ``view``
(pure: what a scrape shows), ``collector`` (the families), ``table`` and
``command`` (the terminal ``calls`` command).

This file imports nothing on purpose: the collector imports ``view`` and
``collector`` and must not pull in the HTTP client through the package.
"""
