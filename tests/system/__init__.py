"""End-to-end tests of the whole daemon: real processes, real Prometheus, faults, crashes."""
