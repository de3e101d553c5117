"""Evaluating a trained policy against its reference: win rates by several
judges side by side (``judges``: the round's own reward model, marked not
independent; the previous round's reward model; an AI judge; people), each
with a paired bootstrap interval over prompts and a length-controlled rate
(``stats``), a KL(policy ‖ reference) estimate, the length change
(``evaluate``, framework-free), and the blind human evaluation through the
labeling queue (``services``)."""
