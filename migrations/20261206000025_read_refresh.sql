-- Read-state refresh (reconcile): no webhook reports a fan reading the
-- creator's message, so reconcile re-reads chats that hold unread outbound
-- messages, least recently checked first, a bounded number per run.
ALTER TABLE chats ADD COLUMN read_checked_at timestamptz;
CREATE INDEX messages_unread_out_idx ON messages (creator_id, chat_id)
    WHERE direction = 'out' AND NOT is_read AND deleted_at IS NULL;
