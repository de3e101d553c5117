"""generation.scorers.RewardScorer for the project's active reward model:
registered by TrainingConfig.ready(), so best-of-N in generation scores with
training's models without generation importing training."""

from training.selectors import reward_model_active
from training.services.registry import project_rewards_score


class ActiveRewardModelScorer:
    def has_model(self, *, project) -> bool:
        return reward_model_active(project=project) is not None

    def score(self, *, project, prompt_messages: list[dict], texts: list[str]) -> list[float]:
        return project_rewards_score(project=project, prompt_messages=prompt_messages, responses=texts)
