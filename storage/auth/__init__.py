"""End-user authentication of a tenant, in the tenant's database: users, sessions, signing keys,
emailed tokens, governance and the auth config."""
