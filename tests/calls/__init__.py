"""Tests of exporter.calls."""
