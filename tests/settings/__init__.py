"""Tests of exporter.settings."""
