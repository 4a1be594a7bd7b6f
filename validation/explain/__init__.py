"""The explanation study and its scripts (not installed with the device)."""
