"""Tests of exporter.backfill."""
