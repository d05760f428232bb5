"""Adapters for the ASGI frameworks that catch WebSocket handler exceptions themselves.

Litestar, Quart, Falcon and BlackSheep catch a handler's exception and close on their own terms
(Litestar 4500, Quart 1000, Falcon 1011, BlackSheep 1011 with the exception's text as the
reason; before accept all four close, which the server answers with 403), so
``CloseGuardMiddleware`` wrapped around them never sees the exception. Each module here wires
the framework's own hook so that it does, in the framework's own idiom; the framework still
reports the exception its own way (log, hooks, signals), once, and the guard answers it:

- ``asgi_closeguard.frameworks.litestar``: ``Litestar(..., plugins=[CloseGuardPlugin()])``;
  ``guard(app)`` does the same to an app built elsewhere, and returns it;
- ``asgi_closeguard.frameworks.quart``: the extension ``CloseGuard(app)``; ``guard(app)``
  does the same, and returns ``app``;
- ``asgi_closeguard.frameworks.falcon``: serve ``guard(app)``: an error handler for
  ``Exception``;
- ``asgi_closeguard.frameworks.blacksheep``: serve ``guard(app)``: around the WebSocket routes;
- ``asgi_closeguard.frameworks.channels``: serve ``guard(application)``; Channels needs no
  hook, the adapter adds the record's route.

Every one takes ``CloseGuardMiddleware``'s keyword options, typed (``GuardOptions``) and
checked by the guard when it is built; an app of another framework is a ``TypeError`` that
names the adapter to use. Two guards around one connection (an adapter twice, or
``CloseGuardMiddleware`` around an app that has its adapter) act as one. Importing this package
imports no framework; each module imports its framework when it is used, and says which
package to install when it is missing. What each framework does behind its adapter, measured
on real servers: ``docs/frameworks.md``.
"""
