"""Tests of exporter.agora."""
