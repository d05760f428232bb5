"""Adapters for the ASGI frameworks that catch WebSocket handler exceptions themselves.

Litestar, Quart, Falcon and BlackSheep catch a handler's exception and close on their own terms
(Litestar 4500, Quart 1000, Falcon 1011, BlackSheep 1011 with the exception's text as the
reason; before accept all four close, which the server answers with 403), so
``CloseGuardMiddleware`` wrapped around them never sees the exception. Each module here wires
the framework's own hook so that it does, and returns the app to serve::

    from asgi_closeguard.frameworks.litestar import guard
    app = guard(Litestar(route_handlers=[...]), exception_codes={TimeoutError: 1013})

- ``asgi_closeguard.frameworks.litestar``: ``guard(app)``, or ``plugins=[CloseGuardPlugin()]``;
- ``asgi_closeguard.frameworks.quart``: ``guard(app)``, or the extension ``CloseGuard(app)``;
- ``asgi_closeguard.frameworks.falcon``: ``guard(app)``, an error handler for ``Exception``;
- ``asgi_closeguard.frameworks.blacksheep``: ``guard(app)``, around the WebSocket routes;
- ``asgi_closeguard.frameworks.channels``: ``guard(application)``; Channels needs no hook.

Every ``guard`` takes ``CloseGuardMiddleware``'s keyword options, checked by it. Importing this
package imports no framework; each module imports its framework when it is used, and says which
package to install when it is missing. What each framework does behind its adapter, measured on
real servers: ``docs/frameworks.md``.
"""
