"""Encrypted backup of the device's keys (SRS-223, threat THR-030): the sealed file format
(:mod:`device_ai.keybackup.sealed`) and the keys of the device it holds, compares and restores
(:mod:`device_ai.keybackup.inventory`). The audited commands are in :mod:`device_ai.app.keys`."""
