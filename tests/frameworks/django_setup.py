"""The least Django that Channels needs: settings in memory, no database, no project."""

from __future__ import annotations


def configure() -> None:
    """Configure Django once per process (later calls do nothing)."""
    import django
    from django.conf import settings

    if settings.configured:
        return
    settings.configure(
        DEBUG=False,
        SECRET_KEY="asgi-closeguard-tests",
        ALLOWED_HOSTS=["*"],
        INSTALLED_APPS=["channels"],
        ROOT_URLCONF=__name__,
        CHANNEL_LAYERS={"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}},
        LOGGING_CONFIG=None,
    )
    django.setup()


urlpatterns: list[object] = []
