"""The event contract and settings shared by collector, processors, sinks and dashboards.

Dependencies point one way: collector → contract ← processors → sinks ← dashboards.
"""
