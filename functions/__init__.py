"""HTTP handlers of the Cloud Functions: parse, authenticate, call a service, answer."""
