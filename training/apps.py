from django.apps import AppConfig


class TrainingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "training"

    def ready(self):
        from django.conf import settings

        from core.jobs.registry import JobKind, job_kind_register

        # Generation scores best-of-N candidates through this (generation/scorers.py).
        from generation.scorers import reward_scorer_register
        from training.reward.scorer import ActiveRewardModelScorer

        reward_scorer_register(ActiveRewardModelScorer())
        job_kind_register(JobKind(name="training_runs", model="training.TrainingRun",
                                  task="training.tasks.training_run_task",
                                  queue=settings.PALATE_TRAINING_QUEUE))
        # A round is created running, never queued: loop_rounds_resume_stale re-sends
        # one whose lease ran out, so the redelivery sweep leaves rounds alone.
        job_kind_register(JobKind(name="loop_rounds", model="training.LoopRound",
                                  task="training.loop_tasks.loop_round_advance_task",
                                  queue=settings.PALATE_TRAINING_QUEUE, redeliver=False))
