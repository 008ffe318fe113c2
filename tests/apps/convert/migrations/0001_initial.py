from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Product",
            fields=[
                (
                    "id",
                    models.AutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("sku", models.CharField(default="", max_length=20)),
                ("price_cents", models.IntegerField(default=0)),
                ("stock_text", models.CharField(max_length=10, null=True)),
            ],
            options={"ordering": ["id"]},
        ),
    ]
