"""From settings to running polls: the poll plan of every budget, and the jobs that run it.

``planner`` turns the configured apps into series and one interval per budget
(and refuses a configuration that cannot be polled without gaps); ``jobs``
runs the plan on APScheduler: real-time polls, insight passes and Call
Inspector cycles. Imports the pipelines (``realtime``, ``insight``, ``calls``)
and everything upstream of them.
"""
