"""The weekly figures: one computation; the review page, the digest and the API are
views of it."""
