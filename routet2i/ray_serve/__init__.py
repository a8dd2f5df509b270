"""routet2i on Ray Serve (the ``ray`` extra): the gateway as the ingress deployment, one worker
deployment per tier, and the tier client the gateway calls them through.

- :mod:`~routet2i.ray_serve.tier`: a tier's worker as a deployment (the worker's own backend,
  queue and batching in each replica);
- :mod:`~routet2i.ray_serve.tier_client`: the gateway's ``ImageWorker`` over a ``DeploymentHandle``;
- :mod:`~routet2i.ray_serve.errors`: Serve's failures as the worker's typed errors (back-pressure → 429);
- :mod:`~routet2i.ray_serve.ingress`: the gateway app as the ingress deployment (its lifespan under Serve);
- :mod:`~routet2i.ray_serve.app`: the application builder a Serve config names;
- :mod:`~routet2i.ray_serve.deploy`: deploy a Serve config file and wait until it runs;
- :mod:`~routet2i.ray_serve.command`: ``routet2i ray``.

Importing this package loads nothing; its modules (except ``command``) import ``ray``.
"""
