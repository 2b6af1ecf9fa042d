"""Sign-in plumbing: the lockout's answers, the signals that revoke tokens on a password
change, and the request middleware (viewer's zone, idle sessions, one-time forms)."""
