from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Customer",
            fields=[
                ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=200)),
                ("email", models.CharField(default="", max_length=200)),
                ("vip", models.BooleanField(default=False)),
            ],
            options={"ordering": ["id"]},
        ),
        migrations.CreateModel(
            name="Order",
            fields=[
                ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("number", models.IntegerField()),
                ("ref", models.CharField(default="", max_length=50)),
                ("customer", models.ForeignKey(on_delete=models.deletion.CASCADE, related_name="orders", to="rename.customer")),
            ],
            options={"ordering": ["id"]},
        ),
        migrations.CreateModel(
            name="Tag",
            fields=[
                ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("code", models.CharField(max_length=40, unique=True)),
                ("customers", models.ManyToManyField(related_name="tags", to="rename.customer")),
            ],
        ),
    ]
