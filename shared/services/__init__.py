"""The use cases: plain Python over the ports, called by the HTTP handlers."""
