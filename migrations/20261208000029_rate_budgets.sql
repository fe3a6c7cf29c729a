-- The Fanvue rate budget shared by every instance on this database. Fanvue
-- counts the app's requests per authorizing user (and creator), whichever
-- process sends them; two instances with a budget each both spent what
-- their last response said was left, and the second one met a 429 at the
-- window's edge. Instances now take each request's token here (one row per
-- bucket, updated under its row lock) and lower it by what each response
-- reports. Unlogged: after a crash the budget is relearned from the next
-- response, as at start-up.
CREATE UNLOGGED TABLE rate_budgets (
    bucket          text PRIMARY KEY,
    lim             integer NOT NULL CHECK (lim > 0),
    remaining       integer NOT NULL CHECK (remaining >= 0),
    reset_at        timestamptz NOT NULL,
    -- Until when a 429's Retry-After holds every instance back.
    penalized_until timestamptz
);
