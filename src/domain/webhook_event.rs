//! The six Fanvue platform webhook events: their topic names, the path
//! segment of their own intake URL, and their label for admins. How a body
//! is recognised lives with intake (`webhooks::events`).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookEventType {
    MessageReceived,
    MessageRead,
    Purchase,
    Tip,
    NewFollower,
    NewSubscriber,
}

impl WebhookEventType {
    pub const ALL: [WebhookEventType; 6] = [
        WebhookEventType::MessageReceived,
        WebhookEventType::MessageRead,
        WebhookEventType::Purchase,
        WebhookEventType::Tip,
        WebhookEventType::NewFollower,
        WebhookEventType::NewSubscriber,
    ];

    /// The path segment of its own URL (`/webhooks/fanvue/{slug}`).
    pub fn slug(self) -> &'static str {
        match self {
            WebhookEventType::MessageReceived => "message-received",
            WebhookEventType::MessageRead => "message-read",
            WebhookEventType::Purchase => "purchase",
            WebhookEventType::Tip => "tip",
            WebhookEventType::NewFollower => "new-follower",
            WebhookEventType::NewSubscriber => "new-subscriber",
        }
    }

    /// Fanvue's topic name (also what we store).
    pub fn topic(self) -> &'static str {
        match self {
            WebhookEventType::MessageReceived => "message.received",
            WebhookEventType::MessageRead => "message.read",
            WebhookEventType::Purchase => "purchase.new",
            WebhookEventType::Tip => "tip.new",
            WebhookEventType::NewFollower => "follow.new",
            WebhookEventType::NewSubscriber => "subscription.new",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            WebhookEventType::MessageReceived => "Message received",
            WebhookEventType::MessageRead => "Message read",
            WebhookEventType::Purchase => "Purchase received",
            WebhookEventType::Tip => "Tip received",
            WebhookEventType::NewFollower => "New follower",
            WebhookEventType::NewSubscriber => "New subscriber",
        }
    }

    pub fn from_slug(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.slug() == s)
    }

    pub fn from_topic(s: &str) -> Option<Self> {
        let s = s.trim();
        Self::ALL.into_iter().find(|e| e.topic() == s)
    }
}
