"""Embedded fake of the Agora Analytics REST API, for tests and ``--demo``.

``Simulator`` serves the seven endpoints the exporter calls over real HTTP,
with the plan's limits (``exporter.agora.limits``), per-customer quotas, the error
answers of the reference and FACTS, injectable faults, and deterministic,
realistic traffic whose every number ``TrafficModel`` can recompute::

    with Simulator(plan="enterprise", customer_id="id", customer_secret="s",
                   seed=7, clock=fake_clock) as sim:
        httpx.get(sim.base_url + "/beta/realtime/usage/by_time_20sec", ...)
        sim.traffic.realtime(appid, "Native", "userCount", window_ts)

Options beyond the plan: ``peak_spelling`` (``both``, ``current``,
``concurrent``: which spellings of the peak insight metrics are accepted),
``call_success_code`` (200, or 0 as the Call Inspector sometimes answers),
``calls_per_hour``, ``call_list_cap`` (calls one search returns at most),
``incident_every_s`` (project-wide quality incidents; None: none),
``max_kvs_per_series`` (Call Inspector samples per series and answer) and
``idle_product_types`` (product types without any user all the time: their
project ``userCount`` and ``channelCount`` read 0 in every window, their quality
and channel windows are left out, as for anything without data; the other
product type is unchanged; real-time only, Data Insights and the Call Inspector
do not change; an unknown product type is a ``ValueError``).

Module map: ``prng`` (hash-based randomness), ``realtime``, ``incidents``,
``insight``, ``calls`` and ``callmetrics`` (the traffic), ``traffic`` (its
facade), ``params`` (validation), ``endpoints`` (answer shapes), ``quota`` and
``timerules`` (limits), ``service`` (check order), ``faults`` and ``corrupt``
(fault injection), ``server`` (HTTP), ``sim`` (``Simulator``), ``cli``;
``console_alerts`` plays Agora Console's Alert Notification: callbacks during
incidents (``Simulator.send_console_alerts``).
"""

from exporter.simulator.calls import CallInfo, SessionInfo
from exporter.simulator.faults import Fault, FaultInjector, FaultSpec
from exporter.simulator.incidents import Incident
from exporter.simulator.requestlog import RequestLogEntry
from exporter.simulator.sim import Simulator
from exporter.simulator.traffic import TrafficModel

__all__ = [
    "CallInfo",
    "Fault",
    "FaultInjector",
    "FaultSpec",
    "Incident",
    "RequestLogEntry",
    "SessionInfo",
    "Simulator",
    "TrafficModel",
]
