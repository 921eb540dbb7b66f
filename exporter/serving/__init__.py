"""What Prometheus and people read: the collector, the /metrics bytes, the HTTP server.

``collector`` turns one snapshot into metric families (pure, no I/O),
``exposition`` keeps the rendered bytes per format, ``server`` answers HTTP,
``status_page`` renders ``/``, ``web`` holds TLS and basic auth from the
web-config file, ``tuning`` the process-wide settings of a long-running server.
Imports everything upstream; nothing upstream imports it.
"""
