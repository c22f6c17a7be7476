"""Who may do what: the roles and the one policy matrix, sign-in and API token authentication."""
