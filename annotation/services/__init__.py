"""Business logic of the annotation domain, split by sub-domain."""
