"""The web console on the backend: the clerk's desk view, the operator's pages and the HTTP API
for the systems behind the desks (the ``console`` extra: FastAPI, Jinja2, argon2-cffi, uvicorn).

Pieces, data flowing one way — the ingest database → :mod:`~station.console.store` (the desk
feed in commit order, accounts, audit) → :mod:`~station.console.feed` (one poller per process,
opened readings as a desk shows them) → the routes (:mod:`~station.console.desk` pages and
server-sent events, :mod:`~station.console.api`, :mod:`~station.console.pages`), each guarded
by :mod:`~station.console.security`. Build it with :func:`station.console.app.create_app`.
"""
