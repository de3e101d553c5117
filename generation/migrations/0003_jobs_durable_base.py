from django.db import migrations, models


class Migration(migrations.Migration):
    """GenerationJob on the durable-job base: its `attempts` is the base's
    `attempt` in Python while the column keeps its name (state only), and it
    records the worker holding it."""

    dependencies = [
        ("generation", "0002_modelspec_project"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RenameField(model_name="generationjob", old_name="attempts", new_name="attempt"),
                migrations.AlterField(
                    model_name="generationjob",
                    name="attempt",
                    field=models.PositiveIntegerField(db_column="attempts", default=0,
                                                      help_text="Claims so far; bumped by each claim."),
                ),
            ],
            database_operations=[],
        ),
        migrations.AddField(
            model_name="generationjob",
            name="worker_id",
            field=models.CharField(blank=True, max_length=200),
        ),
    ]
