"""The arena settings form: it only parses what the browser sends into the
arguments of arena.services.config.arena_settings_update, which the API calls
too and which holds the rules."""

from django import forms

from arena.models import Arena

POOL_PREFIX = "weight_"


class ArenaForm(forms.Form):
    is_enabled = forms.BooleanField(required=False, label="Arena on",
                                    help_text="Off: the battle page answers 404; battles stay.")
    max_turns = forms.IntegerField(min_value=1, max_value=20, label="Turns per battle")
    max_input_chars = forms.IntegerField(min_value=1, max_value=20_000,
                                         label="Longest prompt (characters)")
    max_output_tokens = forms.IntegerField(min_value=1, max_value=4096,
                                           label="Tokens per answer")
    temperature = forms.FloatField(min_value=0, max_value=2, required=False)
    top_p = forms.FloatField(min_value=0.01, max_value=1, required=False, label="Top-p")
    battles_per_hour = forms.IntegerField(min_value=1, label="Battles per labeler and hour")
    tokens_per_hour = forms.IntegerField(min_value=1, label="Tokens per labeler and hour")
    join_promoted = forms.BooleanField(required=False, label="Promoted policies join the pool",
                                       help_text="A policy the training loop promotes is added "
                                                 "with weight 1.")
    suggested_prompts = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One a line; labelers may take one instead of writing their own.")

    def __init__(self, *args, candidates=(), **kwargs):
        super().__init__(*args, **kwargs)
        # One weight field per policy model the project may use; empty = not in the pool.
        self.candidates = list(candidates)
        for spec in self.candidates:
            self.fields[f"{POOL_PREFIX}{spec.pk}"] = forms.FloatField(
                min_value=0, max_value=1e6, required=False, label=spec.name)

    @staticmethod
    def initial_for(arena: Arena | None) -> dict:
        arena = arena or Arena()
        initial = {name: getattr(arena, name) for name in (
            "is_enabled", "max_turns", "max_input_chars", "max_output_tokens", "battles_per_hour",
            "tokens_per_hour", "join_promoted")}
        initial |= {key: arena.sampling.get(key) for key in ("temperature", "top_p")}
        initial["suggested_prompts"] = "\n".join(arena.suggested_prompts)
        if arena.pk:
            initial |= {f"{POOL_PREFIX}{entry.spec_id}": entry.weight
                        for entry in arena.pool.filter(is_active=True)}
        return initial

    def pool_rows(self):
        return [self[f"{POOL_PREFIX}{spec.pk}"] for spec in self.candidates]

    def update_kwargs(self, sampling: dict) -> dict:
        """settings and pool for arena_settings_update; ``sampling`` is the
        arena's current one (its seed, if set, is kept)."""
        values = self.cleaned_data
        settings = {name: values[name] for name in (
            "is_enabled", "max_turns", "max_input_chars", "max_output_tokens", "battles_per_hour",
            "tokens_per_hour", "join_promoted")}
        settings["sampling"] = {**{k: v for k, v in sampling.items() if k == "seed"},
                                **{k: values[k] for k in ("temperature", "top_p")
                                   if values[k] is not None}}
        settings["suggested_prompts"] = [line.strip() for line in
                                         values["suggested_prompts"].splitlines() if line.strip()]
        pool = [{"model": spec.name, "weight": values[f"{POOL_PREFIX}{spec.pk}"]}
                for spec in self.candidates if values[f"{POOL_PREFIX}{spec.pk}"] is not None]
        return {"settings": settings, "pool": pool}

    def add_service_error(self, field: str | None, message: str) -> None:
        """A service's refusal, shown at the field it names (pool[i].x at the model's weight)."""
        if field and field.startswith("pool[") and "]" in field:
            index = int(field[5:field.index("]")])
            chosen = [spec for spec in self.candidates
                      if self.cleaned_data.get(f"{POOL_PREFIX}{spec.pk}") is not None]
            if index < len(chosen):
                self.add_error(f"{POOL_PREFIX}{chosen[index].pk}", message)
                return
        name = field if field in self.fields else None
        if field == "sampling":
            name = "temperature"
        elif field and field.startswith("suggested_prompts"):
            name = "suggested_prompts"
        self.add_error(name, message)
