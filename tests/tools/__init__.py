"""Tests of the generators in tools/: alert rules and dashboards."""
