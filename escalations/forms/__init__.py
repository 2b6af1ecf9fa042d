"""The workspace's HTML forms: they shape and check input; the services decide."""
