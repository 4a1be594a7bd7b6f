"""model/package package."""
