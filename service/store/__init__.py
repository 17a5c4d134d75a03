"""The only layer that speaks SQL: pool, migrations, embedded PostgreSQL, repositories."""
