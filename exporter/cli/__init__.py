"""The command line: argv -> settings -> a subcommand.

``main`` parses the flags and dispatches; one module per subcommand does the
work (``serve`` with ``--demo``, ``plan``, ``check-config``, ``backfill``,
``calls``). The most downstream package: nothing imports it but ``__main__``.
"""
