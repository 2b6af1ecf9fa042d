"""config.wsgi with every fast path swapped for its plain Django + simple-history
counterpart: what ``bench.api_load --plain`` serves."""

from bench import use_plain_paths
from config.wsgi import application

use_plain_paths()

__all__ = ["application"]
