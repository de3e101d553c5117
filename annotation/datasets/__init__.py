"""Dataset snapshots: turning labels into preference pairs, writing and reading files."""
