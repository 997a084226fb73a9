"""The juice value chain as one command: the ABM Portal, PEC's and OMIS's AAdSys, PEC's shop and OMIS's line.

Five processes on loopback with embedded defaults (SQLite), started and bootstrapped the way operators and
partners do it: through the command lines and HTTP APIs of each part (``python -m valuechain``, ``make demo``).
This package orchestrates; it holds no business logic of the chain's members.
"""
