from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Team",
            fields=[
                ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("title", models.CharField(default="", max_length=50)),
            ],
        ),
        migrations.CreateModel(
            name="Person",
            fields=[
                ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("email", models.CharField(default="", max_length=100)),
                ("name", models.CharField(max_length=200)),
                ("team", models.ForeignKey(blank=True, null=True, on_delete=models.deletion.SET_NULL, related_name="people", to="reshape.team")),
            ],
            options={"ordering": ["id"]},
        ),
        migrations.CreateModel(
            name="Place",
            fields=[
                ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("label", models.CharField(default="", max_length=50)),
                ("street", models.CharField(max_length=100, null=True)),
                ("city", models.CharField(max_length=100, null=True)),
            ],
            options={"ordering": ["id"]},
        ),
        migrations.CreateModel(
            name="Visit",
            fields=[
                ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("note", models.CharField(default="", max_length=50)),
                ("person", models.ForeignKey(on_delete=models.deletion.CASCADE, related_name="visits", to="reshape.person")),
                ("place", models.ForeignKey(on_delete=models.deletion.CASCADE, related_name="visits", to="reshape.place")),
            ],
            options={"ordering": ["id"]},
        ),
    ]
