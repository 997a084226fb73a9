"""Benchmarks of whole AAdSys processes (``aadsys bench …``): real processes on loopback, driven through their
command lines and HTTP APIs, as in ``make demo``."""
