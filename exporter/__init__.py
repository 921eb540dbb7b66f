"""agora-exporter: a Prometheus exporter for the Agora Analytics REST API."""

__version__ = "0.1.0"
