"""Tests of exporter.serving."""
