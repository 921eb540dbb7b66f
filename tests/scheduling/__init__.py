"""Tests of exporter.scheduling."""
