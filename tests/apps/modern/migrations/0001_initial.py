# The models before their transitions, on the Djangos that have their features (5.0: db_default
# and GeneratedField; 5.2: CompositePrimaryKey). Older Djangos apply nothing.
import django
from django.db import migrations, models
import django.db.models.functions.text

operations = []
if django.VERSION >= (5, 0):
    operations += [
        migrations.CreateModel(
            name='Ticket',
            fields=[
                ('id', models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('state', models.CharField(db_default='open', max_length=20)),
                ('priority_text', models.CharField(db_default='3', max_length=10)),
                ('title', models.CharField(default='', max_length=100)),
            ],
            options={'ordering': ['id']},
        ),
        migrations.CreateModel(
            name='Author',
            fields=[
                ('id', models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=100)),
                ('shout', models.GeneratedField(db_persist=True, expression=django.db.models.functions.text.Upper('name'), output_field=models.CharField(max_length=100))),
            ],
            options={'ordering': ['id']},
        ),
    ]
if django.VERSION >= (5, 2):
    operations += [
        migrations.CreateModel(
            name='Enrollment',
            fields=[
                ('pk', models.CompositePrimaryKey('course', 'student', blank=True, editable=False, primary_key=True, serialize=False)),
                ('course', models.CharField(max_length=20)),
                ('student', models.IntegerField()),
                ('mark', models.CharField(max_length=20)),
                ('credits_text', models.CharField(max_length=10)),
            ],
            options={'ordering': ['course', 'student']},
        ),
    ]


class Migration(migrations.Migration):

    initial = True

    dependencies = []

    operations = operations
