from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('annotation', '0007_project_consensus_settings'),
    ]

    operations = [
        migrations.AddField(
            model_name='project',
            name='archived_at',
            field=models.DateTimeField(blank=True, help_text='Set while the project is archived: it hands out no items and is listed apart.', null=True),
        ),
    ]
