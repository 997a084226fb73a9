"""What the benchmarks read off a process: its CPU time counts its worker processes too (``serve --workers N``)."""

from __future__ import annotations

import subprocess
import sys

from aadsys.benchmark._observing import cpu_seconds

BURN = 0.4  # seconds of CPU the child uses before it says so
PARENT = f"""
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", '''
import sys, time
while time.process_time() < {BURN}:
    pass
print("burnt", flush=True)
sys.stdin.readline()
'''], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
print(child.stdout.readline().strip(), flush=True)
sys.stdin.readline()
child.communicate("done\\n")
"""


def test_the_cpu_time_of_a_process_counts_its_running_children() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == "burnt"
        assert cpu_seconds(parent.pid) >= BURN  # the parent alone has used a fraction of that
        parent.communicate("done\n", timeout=30)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
