"""``python -m valuechain`` (``make demo``): the juice value chain on loopback, embedded defaults."""

from __future__ import annotations

import signal
import socket
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from valuechain.scenario import Ports, run

app = typer.Typer(add_completion=False, help=__doc__)


def _free(port: int) -> None:
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise typer.BadParameter(f"port {port} on 127.0.0.1 is taken; stop what uses it, or pass another port")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _stop_on_termination() -> None:
    """SIGTERM (``kill``, systemd, ``docker stop``) stops the chain as Ctrl-C does: the five processes run in
    sessions of their own, so only this one hears the signal. SIGINT is restored too, because a shell starts a
    background job with SIGINT ignored."""
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)


@app.command()
def demo(
    once: Annotated[bool | None, typer.Option(
        "--once/--serve", help="run the scenario to the end and exit (default when standard input is not a "
                               "terminal), or keep serving until Ctrl-C")] = None,
    data_dir: Annotated[Path, typer.Option(help="where the five processes keep data and logs (reset each run)")]
    = Path("demo-data"),
    portal_port: int = 8700, pec_port: int = 8080, omis_port: int = 8081, shop_port: int = 8090,
    line_port: int = 8091,
    tls: Annotated[bool, typer.Option("--tls", help="serve all five on https and wss, with a development CA and "
                                                    "certificate made by `aadsys certs` in <data-dir>/tls that "
                                                    "every process trusts (tls_ca_file)")] = False,
) -> None:
    """Start the ABM Portal, PEC's and OMIS's AAdSys, PEC's shop and OMIS's line; bootstrap them; order juices."""
    ports = Ports(portal_port, pec_port, omis_port, shop_port, line_port)
    for port in (portal_port, pec_port, omis_port, shop_port, line_port):
        _free(port)
    _stop_on_termination()
    raise typer.Exit(run(data_dir, ports, once=not sys.stdin.isatty() if once is None else once, tls=tls))
