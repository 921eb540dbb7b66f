"""``--web.config.file``: TLS, client certificates, basic auth and rate limits for the listener."""
