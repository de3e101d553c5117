"""Business logic of the generation app, split by sub-domain."""
