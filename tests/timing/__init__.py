"""Tests of exporter.timing."""
