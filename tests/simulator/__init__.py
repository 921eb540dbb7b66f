"""Tests of exporter.simulator."""
