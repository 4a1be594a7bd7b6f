"""model/dinov2 package."""
