"""Code shared by the Cloud Functions: domain, services, ports and adapters."""
