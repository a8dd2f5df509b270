"""The HTTP gateway: FastAPI app factory, schemas, routes, error mapping, the online request path.

Nothing heavy is imported here; :func:`routet2i.gateway.app.create_app` builds the app.
"""
