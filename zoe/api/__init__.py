"""The REST API of a live deployment, under ``/api/v1``.

:func:`zoe.api.app.create_app` builds the FastAPI application from an
:class:`~zoe.api.config.ApiConfig`; ``zoe api`` serves it with uvicorn. The API
reads the state from PostgreSQL, writes each submission there before telling the
master, and asks the master (over its ZeroMQ protocol) to terminate or delete
executions and for the cluster and scheduler status. See ``docs/api.md``.
"""
