"""Cleaning of people's text before it is stored (pure functions; the services call them).

One-line fields (titles, names, references) lose the Unicode bidirectional controls,
which can make a title read differently from what it is ("Trojan Source" style
reordering in lists, emails and chat). Long text keeps them (a right-to-left language
may need them) but has a length limit, so one request cannot put a megabyte into every
list and email that shows the field."""

from __future__ import annotations

import re
from datetime import timedelta

# LRE, RLE, PDF, LRO, RLO; LRI, RLI, FSI, PDI; LRM, RLM, ALM.
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")

# The longest description, update, packet field, play or RCA section a case keeps.
MAX_LONG_TEXT = 20_000
# The longest reason, note or justification (a few sentences, shown in lists and e-mails).
MAX_REASON = 2_000


def one_line(value: str | None) -> str:
    """A one-line field as stored: bidi controls removed, surrounding blanks trimmed."""
    return BIDI_CONTROLS.sub("", value or "").strip()


def long_text_error(value: str | None, *, max_length: int = MAX_LONG_TEXT) -> str | None:
    """The message for a long text over the limit, or None."""
    length = len(value or "")
    if length > max_length:
        return f"Keep this under {max_length:,} characters (it has {length:,})."
    return None


def duration_text(delta: timedelta | None) -> str:
    """'4m 59s', '1h 05m', '2d 03h' — the same format app.js produces."""
    if delta is None:
        return "—"
    seconds = abs(int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"
