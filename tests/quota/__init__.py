"""Tests of exporter.quota."""
