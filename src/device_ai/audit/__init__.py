"""Tamper-evident, durable audit trail: RFC 9162 Merkle tree over framed, fsynced records,
with C2SP signed checkpoints. Imports nothing of the project but config, errors and keystore."""
