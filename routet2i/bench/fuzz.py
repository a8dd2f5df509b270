"""Fuzzing of a service's OpenAPI schema with schemathesis, every check on (``--checks all``).

For every operation of ``{url}/openapi.json`` (the gateway's or a worker's) schemathesis's own
engine runs its phases as ``schemathesis run`` does (the schema's examples; coverage: boundary
values on both sides of each constraint, missing and extra fields, methods the path does not
have; fuzzing: ``positive`` requests valid per the schema and ``negative`` ones invalid on
purpose) and checks every answer with all its checks, among them:

- ``not_a_server_error``: no 5xx;
- ``status_code_conformance``, ``content_type_conformance``, ``response_headers_conformance``,
  ``response_schema_conformance``: the answer is as documented;
- ``positive_data_acceptance``: a request the schema allows is not refused with 400 / 422 (the
  schema promises no more than the server accepts);
- ``negative_data_rejection``: a request the schema forbids is refused with a 4xx (the schema
  states every rule the server enforces);
- ``unsupported_method``, ``allow_header_conformance``: a method the path lacks is a 405 whose
  ``Allow`` lists the path's methods; ``missing_required_header``, ``ignored_auth``, ...

A failure is recorded once per operation and check (the check, its message, the status, a curl
line to replay it) and the run goes on. ``headers`` are sent with every request (a client key).
Requests go to ``url`` only (127.0.0.1 in the benches), ``max_examples`` per operation and phase;
``seed`` makes a run repeatable.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

#: The checks run on every answer (``all``: every check schemathesis has; else check names).
CHECKS = ("all",)


def fuzz(
    url: str,
    *,
    max_examples: int = 50,
    headers: dict[str, str] | None = None,
    modes: Sequence[str] = ("positive", "negative"),
    seed: int = 0,
    timeout_s: float = 60.0,
    skip: Sequence[str] = (),
    checks: Sequence[str] = CHECKS,
) -> dict[str, Any]:
    """Fuzz every operation of the service at ``url`` (but those whose label, like
    ``PUT /v1/budget``, is in ``skip``). Returns the report: per operation the statuses seen, and
    the failures (one per operation and check)."""
    import schemathesis
    from schemathesis import GenerationMode
    from schemathesis.engine import Status, from_schema
    from schemathesis.engine import events as ev

    schema: Any = schemathesis.openapi.from_url(f"{url}/openapi.json", timeout=timeout_s)
    for label in skip:
        method, _, path = label.partition(" ")
        schema = schema.exclude(method=method, path=path)
    schema.config.update(base_url=url, headers=dict(headers or {}), request_timeout=timeout_s)
    schema.config.checks.update(included_check_names=list(checks))
    schema.config.generation.update(
        modes=[GenerationMode(m) for m in modes], max_examples=max_examples, deterministic=True
    )
    schema.config.seed = seed

    operations: dict[str, Counter[str]] = {}
    failures: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for event in from_schema(schema).execute():
        if isinstance(event, ev.NonFatalError | ev.FatalError):
            failures.append({"operation": getattr(event, "label", "schema"), "failures": [_error(event)]})
            continue
        if not isinstance(event, ev.ScenarioFinished):
            continue
        recorder = event.recorder
        statuses = operations.setdefault(recorder.label, Counter())
        for interaction in recorder.interactions.values():
            if interaction.response is not None:
                statuses[str(interaction.response.status_code)] += 1
        for case_id, case_checks in recorder.checks.items():
            for check in case_checks:
                if check.status != Status.FAILURE or check.failure_info is None or (recorder.label, check.name) in seen:
                    continue
                seen.add((recorder.label, check.name))
                failure = check.failure_info.failure
                response = getattr(recorder.interactions.get(case_id), "response", None)
                failures.append(
                    {
                        "operation": recorder.label,
                        "mode": str(event.phase.value),
                        "check": check.name,
                        "status": None if response is None else response.status_code,
                        "failures": [{"title": failure.title, "message": failure.message[:800]}],
                        "body": "" if response is None else response.content[:500].decode("utf-8", "replace"),
                        "curl": check.failure_info.code_sample,
                    }
                )
    return {
        "url": url,
        "max_examples": max_examples,
        "modes": list(modes),
        "checks": list(checks),
        "skipped": list(skip),
        "operations": {
            label: {"requests": sum(s.values()), "statuses": dict(s)} for label, s in sorted(operations.items())
        },
        "requests": sum(sum(s.values()) for s in operations.values()),
        "server_errors_5xx": sum(n for s in operations.values() for status, n in s.items() if status.startswith("5")),
        "failures": failures,
    }


def _error(event: Any) -> dict[str, str]:
    """An engine error (the schema did not load, a request could not be made) as a failure."""
    info = getattr(event, "info", None)
    message = getattr(info, "message", None) or str(getattr(event, "exception", event))
    return {"title": "Error", "message": str(message)[:800]}
