"""Django Channels: serve what guard() returns. Channels and Django ship no types (django-stubs
is a package of its own), so their imports are untyped, as in any typed Channels project."""

from __future__ import annotations

from channels.generic.websocket import AsyncWebsocketConsumer  # type: ignore[import-untyped]
from channels.routing import ProtocolTypeRouter, URLRouter  # type: ignore[import-untyped]
from django.urls import path  # type: ignore[import-untyped]

from asgi_closeguard import CloseGuardMiddleware
from asgi_closeguard.frameworks.channels import guard


class Room(AsyncWebsocketConsumer):  # type: ignore[misc]
    async def connect(self) -> None:
        await self.accept()


websocket_urlpatterns = [path("rooms/<str:room>/", Room.as_asgi())]
application: CloseGuardMiddleware = guard(
    ProtocolTypeRouter({"websocket": URLRouter(websocket_urlpatterns)}),
    exception_codes={TimeoutError: 1013},
)
wrapped = CloseGuardMiddleware(ProtocolTypeRouter({"websocket": URLRouter(websocket_urlpatterns)}))
