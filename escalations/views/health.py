# Filled by the breach-engine work (issue 3): /healthz reporting a stale sweep.
urlpatterns: list = []
