-- Webhook rejections concern an agency only through the creator a signed
-- body names; nothing of the payload is kept (reasons name the problem,
-- never the content); beyond a per-minute cap only a count is kept.

-- Older rows could quote payload text in their reason or excerpt, and say
-- nothing about whose they are: they are not kept.
DELETE FROM webhook_rejections;
ALTER TABLE webhook_rejections DROP COLUMN body_excerpt;
ALTER TABLE webhook_rejections ADD COLUMN creator_fanvue_uuid uuid;
CREATE INDEX webhook_rejections_creator_idx ON webhook_rejections (creator_fanvue_uuid, id DESC)
    WHERE creator_fanvue_uuid IS NOT NULL;

-- Rejections beyond the cap, counted per minute.
CREATE TABLE webhook_rejections_dropped (
    minute  timestamptz PRIMARY KEY,
    dropped bigint NOT NULL
);
