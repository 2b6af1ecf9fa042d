def use_plain_paths() -> None:
    """Swap every escalations.fastpath function for its plain Django + simple-history
    counterpart in this process: the "without" of the with/without figures."""
    from escalations import fastpath
    from escalations.api import authentication, incident_json
    from escalations.fastpath import plain
    from escalations.selectors import clocks

    for name in ("insert_with_history", "insert_rows_with_history", "update_with_history", "fetch_rows"):
        setattr(fastpath, name, getattr(plain, name))
    for module in (clocks, incident_json, authentication):
        module.fetch_rows = plain.fetch_rows
