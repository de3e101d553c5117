"""Events other apps react to without importing the app that emits them."""

from django.dispatch import Signal

# Sent (on commit) when the training loop promotes a policy: kwargs ``project``
# (the loop's project) and ``spec`` (the promoted ModelSpec). The arena adds it
# to the project's pool; training emits it, generation defines it, so neither
# the arena nor generation imports training.
policy_promoted = Signal()
