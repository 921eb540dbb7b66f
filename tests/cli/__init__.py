"""Tests of exporter.cli."""
