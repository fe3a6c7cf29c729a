//! Which path wrote a mirrored message last: one of the sync steps, the
//! webhook intake or an inbox send. Stored in `messages.source` as `as_str`, for diagnosis.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageSource {
    Backfill,
    Reconcile,
    Purchases,
    History,
    Webhook,
    /// Written by the inbox right after Fanvue accepted a send.
    Send,
}

impl MessageSource {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageSource::Backfill => "backfill",
            MessageSource::Reconcile => "reconcile",
            MessageSource::Purchases => "purchases",
            MessageSource::History => "history",
            MessageSource::Webhook => "webhook",
            MessageSource::Send => "send",
        }
    }
}
