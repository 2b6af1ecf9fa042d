"""Reads: the cases a user may see and the pages' queries. Selectors import models, the
clock maths and the access rule; never services."""
