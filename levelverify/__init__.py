"""RightLevel level verification: the pure level-check engine and, later, its Django app."""
