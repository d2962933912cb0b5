"""Vendor adapters. Importing this package registers every adapter by name."""

from mifumo.delivery.providers import africastalking, arkesel, beem, smtp, twilio  # noqa: F401
