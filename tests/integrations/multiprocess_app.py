"""The page's snippet for several worker processes, with the scripted routes; it needs
``PROMETHEUS_MULTIPROC_DIR``."""

from tests.integrations.promql_routes import from_the_page

app = from_the_page("MultiProcessCollector")
