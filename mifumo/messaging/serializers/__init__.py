"""Serializers of the messaging API, one module per resource (views/ mirrors them)."""
