"""Evaluating a trained policy against its reference: the reward-model-judged
win rate with a bootstrap interval, a KL(policy ‖ reference) estimate, the
length change (``evaluate``, framework-free), and the blind human evaluation
through the labeling queue (``services``)."""
