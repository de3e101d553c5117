from django.apps import AppConfig


class TrainingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "training"

    def ready(self):
        # Generation scores best-of-N candidates through this (generation/scorers.py).
        from generation.scorers import reward_scorer_register
        from training.reward.scorer import ActiveRewardModelScorer

        reward_scorer_register(ActiveRewardModelScorer())
