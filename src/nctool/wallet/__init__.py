"""Wallet logic: invoices, balances and payments."""
