from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Item",
            fields=[
                (
                    "id",
                    models.AutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("sku", models.CharField(max_length=20, unique=True)),
                ("name", models.CharField(default="", max_length=100)),
                ("price_cents", models.IntegerField(default=0)),
            ],
            options={"ordering": ["id"]},
        ),
        migrations.CreateModel(
            name="Contact",
            fields=[
                (
                    "id",
                    models.AutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("handle", models.CharField(max_length=20, unique=True)),
                ("name", models.CharField(default="", max_length=200)),
            ],
            options={"ordering": ["id"]},
        ),
        migrations.CreateModel(
            name="Book",
            fields=[
                (
                    "id",
                    models.AutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("isbn", models.CharField(max_length=20, unique=True)),
                ("pages", models.IntegerField(default=0)),
            ],
            options={"ordering": ["id"]},
        ),
    ]
