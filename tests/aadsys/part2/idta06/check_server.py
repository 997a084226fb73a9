"""Run suites of the IDTA aas-test-engines 0.6.0 against a server; print one JSON report on stdout.

Runs in ``.venv-idta06`` (this directory's own environment), never in the project's: 0.6.0 and the project's
pinned 1.0.3 are the same package. ``tests/aadsys/part2/test_idta06_engine.py`` starts it as a subprocess.

Two inputs the engine's command line lacks, both supplied the engine's own way:
- ``--header``: every request carries it (the AAdSys's read key).
- ``--id NAME=VALUE``: the operations 0.6.0 checks with ``SimpleSemanticTestSuite`` (every registry and
  discovery operation) build their one positive request from the first sample of the parameter's schema, so a
  path id is always ``eA==`` (base64 of "x"), and a server that answers 404 for a shell it does not hold fails.
  Here those requests name a shell and submodel the server holds instead, passed as the parameter overwrites
  the engine's other suites take from a server's listings. Nothing else of the engine changes.

    .venv-idta06/bin/python check_server.py URL SUITE... [--header 'X-API-Key: ...'] [--id aasIdentifier=...]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import requests
from aas_test_engines import api
from aas_test_engines.result import AasTestResult


def _with_header(name: str, value: str) -> None:
    send = requests.Session.send

    def send_with_header(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> Any:
        request.headers[name] = value
        return send(self, request, **kwargs)

    requests.Session.send = send_with_header  # type: ignore[method-assign]


def _with_ids(ids: dict[str, str]) -> None:
    generate = api.generate_one_valid

    def generate_with_ids(operation: Any, cache: Any, overwrites: dict[str, Any] | None = None) -> Any:
        known = {p.name: ids[p.name] for p in operation.parameters if p.name in ids}
        return generate(operation, cache, {**known, **(overwrites or {})})

    api.generate_one_valid = generate_with_ids


def _failures(node: AasTestResult, trail: str) -> list[str]:
    if node.ok():
        return []
    found = [f for sub in node.sub_results for f in _failures(sub, f"{trail} / {' '.join(sub.message.split())}")]
    return found or [trail]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("server", help="the Part 2 API's base URL, e.g. http://127.0.0.1:8080/api/v3.0")
    parser.add_argument("suites", nargs="+", help="suite names (service specification profile URLs)")
    parser.add_argument("--header", action="append", default=[], help="'Name: value', sent with every request")
    parser.add_argument("--id", action="append", default=[], help="NAME=VALUE of a path id the server holds")
    args = parser.parse_args()
    for header in args.header:
        name, _, value = header.partition(":")
        _with_header(name.strip(), value.strip())
    _with_ids(dict(item.split("=", 1) for item in args.id))
    report = {}
    for suite in args.suites:
        result, matrix = api.execute_tests(api.ExecConf(server=args.server), suite)
        report[suite] = {
            "operations": {op.message.removeprefix("Checking "): _failures(op, "") for op in result.sub_results
                           if op.message.startswith("Checking ")},
            "negative": [matrix.invalid_rejected, matrix.invalid_accepted + matrix.invalid_rejected],
            "positive": [matrix.valid_accepted, matrix.valid_accepted + matrix.valid_rejected],
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
