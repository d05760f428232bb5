"""A FastAPI demo of asgi-closeguard: the same WebSocket handlers raw and guarded, in a browser.

Run it with ``python -m demo_app`` (see :mod:`demo_app.__main__`) and open http://127.0.0.1:8000/.
The app object is ``demo_app.app:app``; :func:`demo_app.app.create_app` builds a fresh one.
"""
