"""Who may: access to each case, the roles and their permissions, the authentication
backend, deployment checks. Below every door and service that asks."""
