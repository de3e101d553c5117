from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('annotation', '0006_quality'),
    ]

    operations = [
        migrations.AddField(
            model_name='project',
            name='default_consensus',
            field=models.CharField(choices=[('majority', 'Majority vote'), ('mean', 'Mean strength'), ('dawid_skene', 'Dawid–Skene posterior')], default='majority', help_text="How snapshots combine an item's labels unless a build names another method.", max_length=16),
        ),
        migrations.AddField(
            model_name='project',
            name='archived_at',
            field=models.DateTimeField(blank=True, help_text='Set while the project is archived: it hands out no items and is listed apart.', null=True),
        ),
    ]
