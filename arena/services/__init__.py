"""Arena services: configuration and pool, limits, battles and streaming, votes."""
