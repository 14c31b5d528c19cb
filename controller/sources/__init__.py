"""Metric sources: where an Observation's load and latency figures come from.

One module per adapter (`prometheus`); `promql` builds the queries for the presets.
"""
