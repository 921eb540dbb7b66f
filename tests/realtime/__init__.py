"""Tests of exporter.realtime."""
