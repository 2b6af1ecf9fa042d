"""config.env.require_secret_key: the web, worker and beat processes refuse to start
without SECRET_KEY, while settings still load for commands that sign nothing."""

from __future__ import annotations

import pytest

from config.env import ImproperEnv, require_secret_key


def test_long_running_processes_refuse_an_empty_secret_key(settings):
    settings.SECRET_KEY = ""
    with pytest.raises(ImproperEnv, match="SECRET_KEY must be set"):
        require_secret_key()


def test_a_set_secret_key_passes(settings):
    settings.SECRET_KEY = "a-real-key"
    require_secret_key()
