from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("lintme", "0002_additive")]

    operations = [
        migrations.RenameField(model_name="invoice", old_name="number", new_name="reference"),
    ]
