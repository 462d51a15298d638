"""Who is acting: actors and their scopes, bearer tokens, complainant and staff sign-in, account
binding codes and staff accounts."""
