from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("imports", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="importsession",
            name="worker",
            field=models.CharField(
                blank=True, help_text="the Celery worker that runs (or last ran) the task", max_length=255
            ),
        ),
    ]
