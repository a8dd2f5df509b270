"""The targets of the load, faults and fuzz suites, and their reports as text.

Targets (issue: reliability): under load no 5xx, no request lost or answered twice, each
generated exactly once, the gateway's memory back within 10 % of its start; with faults every
request answered within its deadline and never a 500; fuzzing finds no 5xx and no answer off its
documented schema.
"""

from __future__ import annotations

import json
from typing import Any

#: Largest end/start ratio of the gateway's RSS for the memory target.
MEMORY_TOLERANCE = 1.10


def load_targets(r: dict[str, Any]) -> dict[str, bool]:
    log = r["access_log"]
    return {
        "no 5xx": r["server_errors_5xx"] == 0,
        "every request answered": r["no_answer"] == 0,
        "answered within the deadline": r.get("over_deadline", 0) == 0,
        "each answered exactly once (own id, seed and image; one access-log line)": (
            not log["missing"]
            and not log["repeated"]
            and not r["wrong_echoed_id"]
            and not r["wrong_body_id"]
            and not r["wrong_seed_or_image"]
            and r["duplicate_ids_sent"] == 0
        ),
        "each generated exactly once (worker counters)": bool(r["generated"]["exactly_once"]),
        f"gateway memory back within {round(100 * (MEMORY_TOLERANCE - 1))} % of its start": (
            r["gateway_rss_mib"]["end_over_start"] <= MEMORY_TOLERANCE
        ),
    }


def fault_targets(r: dict[str, Any]) -> dict[str, bool]:
    targets = {
        "every request answered within its deadline": r["no_answer"] == 0 and r.get("over_deadline", 0) == 0,
        "never a 500": r["statuses"].get("500", 0) == 0,
        "right ids and images": not r["wrong_echoed_id"] and not r["wrong_body_id"] and not r["wrong_seed_or_image"],
    }
    if r["scenario"] == "kill":
        targets["the edge came back into rotation"] = "edge_back_in_rotation_s" in r["events"]
    else:
        targets["the edge took over (fallbacks)"] = r["fallbacks"] > 0
    return targets


def fuzz_targets(r: dict[str, Any]) -> dict[str, bool]:
    return {"no 5xx": r["server_errors_5xx"] == 0, "every answer as documented": not r["failures"]}


def _targets(targets: dict[str, bool]) -> list[str]:
    return [f"  [{'met' if ok else 'MISSED'}] {name}" for name, ok in targets.items()]


def _latency(s: dict[str, float]) -> str:
    return f"p50 {s['p50']:.3f} s, p90 {s['p90']:.3f} s, p99 {s['p99']:.3f} s, max {s['max']:.3f} s"


def format_load(r: dict[str, Any]) -> str:
    rss = r["gateway_rss_mib"]
    g = r["generated"]
    lines = [
        f"load: {r['clients']} clients for {r['duration_s']:.0f} s: {r['requests']} requests, "
        f"{r['requests_per_s']:.1f} req/s",
        f"  statuses {json.dumps(r['statuses'])}; errors {json.dumps(r['errors'])}",
        f"  tiers {json.dumps(r['tiers'])}",
        f"  latency (all answers) {_latency(r['latency_s'])}",
        f"  generated: {g['generated_requests']:.0f} requests / {g['generated_images']:.0f} images for "
        f"{g['answered_200']} answers 200; dropped {g['dropped']:.0f}, failed batches {g['failed_batches']:.0f}",
        f"  gateway RSS MiB: ready {rss['ready']:.1f}, start (after warm-up) {rss['start']:.1f}, "
        f"peak {rss['peak']:.1f}, end {rss['end']:.1f} (end/start {rss['end_over_start']:.3f})",
        *_targets(load_targets(r)),
    ]
    return "\n".join(lines)


def format_faults(results: dict[str, Any]) -> str:
    lines = []
    for name, r in results.items():
        if name == "machine":
            continue
        lines += [
            f"{name}: {r['clients']} clients for {r['duration_s']:.0f} s, events {json.dumps(r['events'])}",
            f"  {r['requests']} requests; statuses {json.dumps(r['statuses'])}; errors {json.dumps(r['errors'])}",
            f"  served by {json.dumps(r['tiers'])}; fallbacks {r['fallbacks']}",
            f"  latency {_latency(r['latency_s'])}; deadline {r['deadline_s']:.0f} s, over it {r['over_deadline']}",
            *_targets(fault_targets(r)),
        ]
    return "\n".join(lines)


def format_fuzz(results: dict[str, Any]) -> str:
    lines = []
    for name in ("worker", "gateway"):
        r = results.get(name)
        if r is None:
            continue
        lines.append(
            f"{name}: {r['requests']} requests over {len(r['operations'])} operations ({', '.join(r['modes'])})"
        )
        for label, op in r["operations"].items():
            lines.append(f"  {label}: {op['requests']} requests, statuses {json.dumps(op['statuses'])}")
        for f in r["failures"]:
            titles = ", ".join(x["title"] for x in f["failures"])
            lines.append(f"  FAILURE {f['operation']} ({f.get('mode')}) status {f.get('status')}: {titles}")
            if f.get("curl"):
                lines.append(f"    {f['curl']}")
        lines += _targets(fuzz_targets(r))
    return "\n".join(lines)


def all_met(suite: str, results: dict[str, Any]) -> bool:
    """Whether every target of ``suite`` was met in ``results``."""
    if suite == "load":
        return all(load_targets(results).values())
    if suite == "faults":
        return all(all(fault_targets(r).values()) for name, r in results.items() if name != "machine")
    if suite in ("ledger", "replicas"):
        return bool(results["met"])
    if suite == "fuzz":
        return all(all(fuzz_targets(results[t]).values()) for t in ("worker", "gateway") if t in results)
    return True
