"""The closed loop: snapshot → reward model → DPO → evaluation → (if the policy
wins) the next candidates from it, round after round (``services``)."""
