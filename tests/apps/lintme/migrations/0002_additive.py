# Additive: nothing here breaks the previous release's code.
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("lintme", "0001_initial")]

    operations = [
        migrations.AddField(model_name="invoice", name="due", field=models.DateField(null=True)),
        migrations.AlterField(model_name="invoice", name="code", field=models.CharField(max_length=20)),
        migrations.AlterField(
            model_name="invoice", name="amount", field=models.IntegerField(default=0, help_text="in cents")
        ),
        migrations.AlterField(
            model_name="line",
            name="invoice",
            field=models.ForeignKey(on_delete=models.deletion.CASCADE, related_name="lines", to="lintme.invoice"),
        ),
        migrations.AddIndex(model_name="invoice", index=models.Index(fields=["number"], name="lintme_number_idx")),
        migrations.CreateModel(
            name="Tag",
            fields=[("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"))],
        ),
    ]
