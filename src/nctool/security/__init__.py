"""Credentials, request limits and encryption of secrets at rest."""
