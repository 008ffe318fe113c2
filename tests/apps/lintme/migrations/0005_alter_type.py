from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lintme", "0004_remove_field")]

    operations = [
        migrations.AlterField(model_name="invoice", name="amount", field=models.CharField(max_length=20)),
        # text on SQLite before and after; jsonb on PostgreSQL, json on MySQL.
        migrations.AlterField(model_name="invoice", name="payload", field=models.JSONField(default=dict)),
    ]
