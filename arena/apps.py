from django.apps import AppConfig


class ArenaConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "arena"

    def ready(self):
        # A policy the loop promotes joins the pools that asked for it. The
        # signal is defined in generation (below training), so arena never
        # imports training.
        from arena.services.pool import on_policy_promoted
        from generation.signals import policy_promoted

        policy_promoted.connect(on_policy_promoted, dispatch_uid="arena-pool-promoted-policy")
