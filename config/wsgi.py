import gc
import os

from django.core.wsgi import get_wsgi_application

from config.env import require_secret_key, require_servers

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()
require_secret_key()
require_servers()

# Django, DRF and the app's modules are loaded once and live as long as the process:
# move them out of the garbage collector's sight, and collect the young generation less
# often (a request allocates tens of thousands of short-lived objects; the default
# threshold of 700 runs a collection several times per request). Measured on the API
# bench: CPU per intake 8.6 -> 7.8 ms, per 50-row list 9.4 -> 9.1 ms, list p99 -30 %.
gc.freeze()
gc.set_threshold(20_000, 20, 20)
