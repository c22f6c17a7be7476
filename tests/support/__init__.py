"""What tests and benchmarks share: factories, builders that walk cases through the real services,
the attacker's tamper helpers and the Celery worker fixture."""
