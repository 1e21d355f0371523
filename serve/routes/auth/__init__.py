"""End-user authentication routes: sign-up and sign-in (`signin`), the signed-in user's own
account and sessions (`account`), the Users admin API (`users`) and governance."""
