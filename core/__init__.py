"""What every app shares: application errors (no DRF), the request context, middleware, the API
exception handler and parsers."""
