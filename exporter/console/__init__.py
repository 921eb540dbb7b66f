"""The Agora Console alert bridge: Alert Notification callbacks into Alertmanager.

Agora Console's Alert Notification (a paid add-on) evaluates rules on the
same 20-second metrics the real-time API serves and POSTs each triggered
alert to a URL, at no quota. This package receives those callbacks on a
listener of its own (``receiver``), reads them strictly (``payload``), labels
them for Alertmanager (``labels``), stores each in ``console-alerts.db``
before answering (``queue``) and forwards them to every configured
Alertmanager, re-sending while they hold (``forward``); ``bridge`` runs it
with the daemon and ``stats`` counts what happened. See docs/console-alerts.md.
"""

from exporter.console.bridge import ConsoleBridge

__all__ = ["ConsoleBridge"]
