-- Send ledger review fixes.
-- `swept`: the row was moved pending → unknown by the sync's sweep (its
-- request looked lost); a definite answer that arrives later may still
-- settle it. `confirmed_by_sync`: reconcile matched the row to a mirrored
-- message (not the send's own answer), so a send that reports the same
-- message uuid may take the claim back, and a stale resubmit of it is held.
ALTER TABLE outbound_sends
    ADD COLUMN swept             boolean NOT NULL DEFAULT false,
    ADD COLUMN confirmed_by_sync boolean NOT NULL DEFAULT false;

-- "Mark chats read when opened" (default off: opening a thread never
-- changes read state on Fanvue unless the agency asks for it).
ALTER TABLE agencies ADD COLUMN mark_read_on_open boolean NOT NULL DEFAULT false;
