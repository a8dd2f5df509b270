"""Image workers: backends (diffusers pipelines, an OpenAI-Images-compatible API), the worker
service that serves one of them over HTTP, and the client the gateway talks to it with.

Import what you need from the modules (nothing heavy is imported here):
``routet2i.workers.client.WorkerClient``, ``routet2i.workers.schemas``,
``routet2i.workers.errors``, ``routet2i.workers.settings.WorkerSettings``,
``routet2i.workers.app.create_app``.
"""
