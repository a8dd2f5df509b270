"""Preflight: can a worker load its model? Asked before serving, answered in seconds.

``routet2i worker`` and ``routet2i serve`` (whose workers run in-process) call
:func:`check_models` before they open a port or load anything heavy. A model that cannot load
ends the command at once with one plain line (a :class:`ModelUnavailable`, printed by the CLI,
exit status 2) that names the model, the cause and the fixes, instead of a worker that retries
the hub, logs a traceback and then answers 503 forever.

What is checked, per backend:

- ``diffusers`` with a local folder: the folder exists and holds ``model_index.json`` (what
  ``save_pretrained`` writes and ``from_pretrained`` reads first).
- ``diffusers`` with a hub repo id: its ``model_index.json`` is in the local Hugging Face cache
  (``huggingface_hub.try_to_load_from_cache``: a file lookup, no network), or else the hub can be
  downloaded from: not offline (``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE``, where no request is
  made at all) and the endpoint answers one request within :data:`HUB_TIMEOUT_S` (no retries).
- ``openai`` (a hosted images API): the backend can be built, i.e. its API key is set (the rule
  lives in the backend's constructor; its message is reused here).

The causes' tracebacks are logged at debug level only (``--log-level debug``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from routet2i.errors import ConfigError
from routet2i.workers.settings import WorkerSettings

log = logging.getLogger(__name__)

#: Seconds the hub reachability check waits for an answer (one try, no retries).
HUB_TIMEOUT_S = 3.0

#: The environment variables that put huggingface_hub offline, and the values that mean "on"
#: (``huggingface_hub.constants.ENV_VARS_TRUE_VALUES``).
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
_TRUE_VALUES = frozenset({"1", "ON", "YES", "TRUE"})

#: The file a diffusers pipeline folder (or hub repo) is recognised by.
MODEL_INDEX = "model_index.json"

#: The fix for a diffusers model that is not where it was looked for.
FOLDER_FIX = "point `model:` of the worker config at a local folder written by `save_pretrained`"

#: Probes the hub endpoint: ``None`` when it answers, else why not (one short sentence).
HubProbe = Callable[[str, float], "str | None"]


class ModelUnavailable(ConfigError):
    """A worker's model cannot be loaded here; the message is one line with the fixes."""


@dataclass(frozen=True)
class ModelProblem:
    """Why one worker's model cannot load (``cause``), and what would fix it: the command that
    downloads it (``download``), another fix (``fix``)."""

    model: str
    cause: str
    download: str | None = None
    fix: str | None = None


def offline_variable(env: Mapping[str, str]) -> str | None:
    """The ``NAME=value`` that puts the hub offline, or None (huggingface_hub's own rule)."""
    for name in OFFLINE_VARIABLES:
        value = env.get(name)
        if value is not None and value.upper() in _TRUE_VALUES:
            return f"{name}={value}"
    return None


def probe_hub(endpoint: str, timeout_s: float) -> str | None:
    """One request to ``endpoint`` (any HTTP answer counts as reachable); None, or why not.
    Proxies from the environment (``HTTPS_PROXY``) apply, as they do for huggingface_hub."""
    import httpx

    try:
        httpx.head(endpoint, timeout=timeout_s, follow_redirects=False)
    except httpx.HTTPError as exc:
        log.debug("hub probe of %s failed", endpoint, exc_info=True)
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return None


def download_command(repo_id: str, revision: str | None = None) -> str:
    """The command that puts ``repo_id`` into the local cache, with the CLI the installed
    huggingface_hub ships (``hf`` since 0.34; ``huggingface-cli`` before)."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        scripts = {ep.name for ep in distribution("huggingface_hub").entry_points if ep.group == "console_scripts"}
    except PackageNotFoundError:  # pragma: no cover - huggingface_hub is a dependency of diffusers
        scripts = set()
    cli = "hf" if "hf" in scripts or "huggingface-cli" not in scripts else "huggingface-cli"
    return f"{cli} download {repo_id}" + (f" --revision {revision}" if revision else "")


def is_repo_id(model: str) -> bool:
    """Whether ``model`` reads as a hub repo id (``org/name``) rather than a path."""
    if model.startswith(("/", "./", "../", "~")) or model.count("/") > 1 or "\\" in model:
        return False
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id  # type: ignore[attr-defined]  # public, documented; not re-exported

    try:
        validate_repo_id(model)
    except HFValidationError:
        return False
    return True


def check_model(
    settings: WorkerSettings,
    *,
    env: Mapping[str, str] | None = None,
    cache_dir: str | Path | None = None,
    endpoint: str | None = None,
    probe: HubProbe = probe_hub,
) -> ModelProblem | None:
    """Why ``settings``' model cannot load here, or None when it can (see the module doc).
    ``env``, ``cache_dir``, ``endpoint`` and ``probe`` default to the process's own."""
    if settings.backend == "openai":
        return _check_hosted(settings)
    model = settings.model
    local = Path(model).expanduser()
    if local.is_dir():
        if (local / MODEL_INDEX).is_file():
            return None
        return ModelProblem(
            model,
            f"the local folder has no {MODEL_INDEX}, so it is not a diffusers pipeline saved with `save_pretrained`",
            fix=FOLDER_FIX,
        )
    if not is_repo_id(model):
        return ModelProblem(model, "no such folder (and not a Hugging Face repo id)", fix=FOLDER_FIX)
    return _check_repo(settings, env, cache_dir, endpoint, probe)


def _check_repo(
    settings: WorkerSettings,
    env: Mapping[str, str] | None,
    cache_dir: str | Path | None,
    endpoint: str | None,
    probe: HubProbe,
) -> ModelProblem | None:
    from huggingface_hub import constants, try_to_load_from_cache

    model, revision = settings.model, settings.diffusers.revision
    cache = Path(cache_dir) if cache_dir is not None else Path(constants.HF_HUB_CACHE)
    if isinstance(try_to_load_from_cache(model, MODEL_INDEX, cache_dir=cache, revision=revision), str):
        return None
    environ = os.environ if env is None else env
    offline = offline_variable(environ)
    if offline is not None:
        why = f"the hub is offline ({offline})"
    else:
        url = endpoint or environ.get("HF_ENDPOINT", constants.ENDPOINT).rstrip("/")
        unreachable = probe(url, HUB_TIMEOUT_S)
        if unreachable is None:
            log.info("%s is not in the local cache (%s): it is downloaded from %s on load", model, cache, url)
            return None
        why = f"the hub {url} is unreachable ({unreachable})"
    return ModelProblem(
        model,
        f"not in the local Hugging Face cache ({cache}) and {why}",
        download=download_command(model, revision),
        fix=FOLDER_FIX,
    )


def _check_hosted(settings: WorkerSettings) -> ModelProblem | None:
    from routet2i.workers.loading import build_backend

    try:
        build_backend(settings)  # cheap: checks the API key, opens nothing
    except ConfigError as exc:
        log.debug("building the %s backend failed", settings.backend, exc_info=True)
        key = settings.api.api_key_env
        return ModelProblem(
            settings.model,
            f"the hosted images API at {settings.api.base_url} cannot be used: {exc}",
            fix=f"set {key} to the provider's API key" if key else "fix the `api:` block of the worker config",
        )
    return None


def describe(problems: Sequence[ModelProblem], demo_fix: str) -> str:
    """One line for all of ``problems``: ``cannot load model 'X': cause. Fix: a, b or <demo_fix>``
    (the download commands of several models joined into one)."""
    causes = "; ".join(f"{p.model!r}: {p.cause}" for p in problems)
    fixes: list[str] = []
    downloads = [p.download for p in problems if p.download is not None]
    if downloads:
        them = "it" if len(downloads) == 1 else "them"
        fixes.append(f"pre-download {them} where the hub is reachable (`{' && '.join(downloads)}`)")
    fixes.extend(dict.fromkeys(p.fix for p in problems if p.fix is not None))
    fixes.append(demo_fix)
    listed = (
        ", ".join(fixes[:-1]) + ("," if len(fixes) > 2 else "") + f" or {fixes[-1]}" if len(fixes) > 1 else fixes[0]
    )
    return f"cannot load model{'s' if len(problems) > 1 else ''} {causes}. Fix: {listed}"


def check_models(
    workers: Sequence[WorkerSettings],
    *,
    demo_fix: str,
    env: Mapping[str, str] | None = None,
    cache_dir: str | Path | None = None,
    endpoint: str | None = None,
    probe: HubProbe = probe_hub,
) -> None:
    """Raise :class:`ModelUnavailable` (one line naming every model that cannot load, its cause
    and the fixes) unless every worker of ``workers`` can load its model."""
    answers: dict[str, str | None] = {}

    def probe_once(url: str, timeout_s: float) -> str | None:  # one probe per endpoint, not per model
        if url not in answers:
            answers[url] = probe(url, timeout_s)
        return answers[url]

    found = (
        check_model(settings, env=env, cache_dir=cache_dir, endpoint=endpoint, probe=probe_once) for settings in workers
    )
    problems = [problem for problem in found if problem is not None]
    if problems:
        raise ModelUnavailable(describe(problems, demo_fix))
