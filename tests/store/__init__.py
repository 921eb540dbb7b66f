"""Tests of exporter.store."""
