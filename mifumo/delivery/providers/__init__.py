"""Vendor adapters. Importing this package registers every adapter by name."""
