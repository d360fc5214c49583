"""The domain: plain Python, no SDK imports."""
