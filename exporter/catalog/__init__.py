"""Every API metric and the Prometheus family it becomes: the one source of names.

``metrics`` holds the real-time and Data Insights metrics, ``calls`` the Call
Inspector's metric IDs. The collector, the settings' allowed metric names, the
README's metrics table and the dashboards generator all read from here, so a
family renamed here is renamed everywhere. Imports only ``exporter.agora.limits``.
"""
