"""Database helpers every app may use."""
