"""Fuzzing of a service's OpenAPI schema with schemathesis: no 5xx, every answer as documented.

For every operation of ``{url}/openapi.json`` (the gateway's or a worker's), schemathesis
generates requests (``positive``: valid per the schema; ``negative``: invalid on purpose) and
each answer is checked:

- ``not_a_server_error``: no 5xx;
- ``status_code_conformance``: the status is documented for that operation;
- ``content_type_conformance``: the content type is documented;
- ``response_schema_conformance``: the body matches the documented schema of that status;
- ``negative_data_rejection``: invalid requests are refused with a 4xx.

A failing example is recorded (operation, checks, status, a curl line to replay it) and the run
goes on; nothing is shrunk. ``headers`` are sent with every request (a client key). Requests go
to ``url`` only (127.0.0.1 in the benches), ``max_examples`` per operation and mode.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

#: The checks run on every answer (names of ``schemathesis.checks`` functions).
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)


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
    the failures (one per operation, failed checks and status)."""
    import schemathesis
    from schemathesis import checks as st_checks
    from schemathesis.core.failures import Failure, FailureGroup
    from schemathesis.core.result import Err

    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", timeout=timeout_s)
    check_functions = [getattr(st_checks, name) for name in checks]
    operations: dict[str, dict[str, Any]] = {}
    failures: list[dict[str, Any]] = []
    seen_failures: set[tuple[str, str, int]] = set()
    skipped: list[str] = []

    for result in schema.get_all_operations():
        if isinstance(result, Err):
            failures.append(
                {"operation": "schema", "failures": [{"title": "Invalid schema", "message": str(result.err())}]}
            )
            continue
        operation = result.ok()
        label = operation.label
        if label in skip:
            skipped.append(label)
            continue
        stats = operations.setdefault(label, {"requests": 0, "statuses": Counter()})
        for mode in modes:

            def on_case(case: Any, label: str = label, mode: str = mode, stats: dict[str, Any] = stats) -> None:
                response = case.call(base_url=url, headers=headers, timeout=timeout_s)
                stats["requests"] += 1
                stats["statuses"][str(response.status_code)] += 1
                try:
                    case.validate_response(response, checks=check_functions, headers=headers)
                except (FailureGroup, Failure) as exc:
                    group = exc.exceptions if isinstance(exc, FailureGroup) else (exc,)
                    titles = sorted({f.title for f in group})
                    key = (label, "|".join(titles), response.status_code)
                    if key not in seen_failures:
                        seen_failures.add(key)
                        failures.append(
                            {
                                "operation": label,
                                "mode": mode,
                                "status": response.status_code,
                                "failures": [{"title": f.title, "message": f.message[:800]} for f in group],
                                "body": response.text[:500],
                                "curl": case.as_curl_command(headers=headers or {}),
                            }
                        )

            _examples(operation, mode, on_case, max_examples=max_examples, seed=seed)
    return {
        "url": url,
        "max_examples": max_examples,
        "modes": list(modes),
        "checks": list(checks),
        "skipped": skipped,
        "operations": {k: {"requests": v["requests"], "statuses": dict(v["statuses"])} for k, v in operations.items()},
        "requests": sum(v["requests"] for v in operations.values()),
        "server_errors_5xx": sum(
            n for v in operations.values() for status, n in v["statuses"].items() if status.startswith("5")
        ),
        "failures": failures,
    }


def _examples(operation: Any, mode: str, on_case: Callable[[Any], None], *, max_examples: int, seed: int) -> None:
    """Call ``on_case`` with up to ``max_examples`` cases of ``operation`` generated in ``mode``
    (deterministic for a seed; no shrinking, no example database)."""
    import hypothesis
    from hypothesis import HealthCheck, Phase
    from schemathesis import GenerationMode

    @hypothesis.settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @hypothesis.seed(seed)
    @hypothesis.given(case=operation.as_strategy(generation_mode=GenerationMode(mode)))
    def run(case: Any) -> None:
        on_case(case)

    # Unsatisfiable: nothing to generate (a negative case of an operation without parameters).
    with contextlib.suppress(hypothesis.errors.Unsatisfiable):
        run()
