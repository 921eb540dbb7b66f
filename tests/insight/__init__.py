"""Tests of exporter.insight."""
