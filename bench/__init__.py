"""Benchmarks: throughput of marketbox's hot paths against a bare floor on the same machine.

Run ``bench/run`` (or ``python -m bench``); ``--quick`` for a smoke run. See docs/benchmarks.md.
"""
