"""The page's Prometheus snippet, with the scripted routes: one process."""

from tests.integrations.promql_routes import from_the_page

app = from_the_page("make_asgi_app()", "on_close=CloseMetrics()")
