//! Canned replies without HTTP: the form's rules (bounded title and body),
//! placeholders (`{fan_name}`, `{creator_name}`) and who may change what.
//! Personal snippets are their owner's alone (anyone else gets "not
//! found"); agency-wide ones are seen by all staff and changed only by
//! managers and above. Every change is audited in the same transaction.
//! Never sends anything: filling a snippet only produces compose text.

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::Viewer;
use super::actor::Actor;
use crate::domain::{AuditAction, FieldErrors};
use crate::store::{self, StoreError, canned::CannedRow};

pub const MAX_TITLE_CHARS: usize = 80;
pub const MAX_BODY_CHARS: usize = 2000;
/// The placeholders a snippet may use; anything else in braces is left as typed.
pub const PLACEHOLDERS: [&str; 2] = ["{fan_name}", "{creator_name}"];

#[derive(Debug, thiserror::Error)]
pub enum CannedError {
    /// Another agency's snippet, someone else's personal one, or none.
    #[error("not found")]
    NotFound,
    /// An agency-wide snippet and a viewer below manager.
    #[error("only managers may change the agency's snippets")]
    Forbidden,
    /// The form's messages, per field.
    #[error("invalid snippet")]
    Invalid(FieldErrors),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for CannedError {
    fn from(e: sqlx::Error) -> Self {
        CannedError::Store(StoreError::from(e))
    }
}

/// Whose snippet: the agency's or the author's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Agency,
    Mine,
}

impl Scope {
    pub fn parse(s: &str) -> Self {
        if s == "agency" {
            Scope::Agency
        } else {
            Scope::Mine
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Agency => "agency",
            Scope::Mine => "mine",
        }
    }
    /// How the picker labels it.
    pub fn label(self) -> &'static str {
        match self {
            Scope::Agency => "Agency",
            Scope::Mine => "Mine",
        }
    }
    pub fn of(row: &CannedRow) -> Self {
        if row.owner_staff_id.is_some() {
            Scope::Mine
        } else {
            Scope::Agency
        }
    }
}

/// A parsed snippet: title trimmed, body as typed (its line breaks matter)
/// but not blank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CannedInput {
    pub title: String,
    pub body: String,
}

impl CannedInput {
    pub fn parse(title: &str, body: &str) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let title = title.trim();
        let n = title.chars().count();
        if n == 0 {
            errors.add("title", "Give the snippet a title.");
        } else if n > MAX_TITLE_CHARS {
            errors.add(
                "title",
                format!("The title is {n} characters; at most {MAX_TITLE_CHARS} are allowed."),
            );
        }
        let body = body.trim_end();
        let n = body.chars().count();
        if body.trim().is_empty() {
            errors.add("body", "Write the text of the snippet.");
        } else if n > MAX_BODY_CHARS {
            errors.add(
                "body",
                format!("The text is {n} characters; at most {MAX_BODY_CHARS} are allowed."),
            );
        }
        if errors.is_empty() {
            Ok(Self {
                title: title.to_owned(),
                body: body.to_owned(),
            })
        } else {
            Err(errors)
        }
    }
}

/// `{word}` tokens in `body` that are not placeholders (shown as a warning:
/// they are inserted as typed).
pub fn unknown_placeholders(body: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else { break };
        let word = &after[..end];
        let token = format!("{{{word}}}");
        let looks_like_one = !word.is_empty()
            && word.len() <= 40
            && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if looks_like_one && !PLACEHOLDERS.contains(&token.as_str()) && !out.contains(&token) {
            out.push(token);
        }
        rest = &after[end + 1..];
    }
    out
}

/// The body with its placeholders filled for one chat.
pub fn fill(body: &str, fan_name: &str, creator_name: &str) -> String {
    body.replace("{fan_name}", fan_name)
        .replace("{creator_name}", creator_name)
}

/// May `viewer` change `row` (which they can already see)?
fn may_change(viewer: Viewer, row: &CannedRow) -> bool {
    match row.owner_staff_id {
        Some(owner) => owner == viewer.staff_id,
        None => viewer.role.is_manager_or_above(),
    }
}

/// The snippets `viewer` may use: the agency's, then their own.
pub async fn visible(db: &PgPool, viewer: Viewer) -> Result<Vec<CannedRow>, CannedError> {
    Ok(store::canned::visible(db, viewer.agency_id, viewer.staff_id).await?)
}

/// One snippet `viewer` may see.
pub async fn one(db: &PgPool, viewer: Viewer, id: Uuid) -> Result<CannedRow, CannedError> {
    store::canned::get_visible(db, viewer.agency_id, viewer.staff_id, id)
        .await?
        .ok_or(CannedError::NotFound)
}

/// One snippet `viewer` may change (404 if unseen, 403 if agency-wide and
/// the viewer is below manager).
pub async fn editable(db: &PgPool, viewer: Viewer, id: Uuid) -> Result<CannedRow, CannedError> {
    let row = one(db, viewer, id).await?;
    if may_change(viewer, &row) {
        Ok(row)
    } else {
        Err(CannedError::Forbidden)
    }
}

/// Saves a new snippet; agency-wide ones need a manager.
pub async fn create(
    db: &PgPool,
    viewer: Viewer,
    ip: Option<&str>,
    scope: Scope,
    input: &CannedInput,
) -> Result<Uuid, CannedError> {
    if scope == Scope::Agency && !viewer.role.is_manager_or_above() {
        return Err(CannedError::Forbidden);
    }
    let mut tx = db.begin().await?;
    let id = store::canned::insert(
        &mut *tx,
        viewer.agency_id,
        &store::canned::NewCanned {
            owner: (scope == Scope::Mine).then_some(viewer.staff_id),
            title: &input.title,
            body: &input.body,
            created_by: viewer.staff_id,
        },
    )
    .await?;
    let target = id.to_string();
    store::audit::record(
        &mut *tx,
        Actor {
            viewer,
            client_ip: ip,
        }
        .audit(
            AuditAction::CannedReplyCreated,
            &target,
            json!({ "scope": scope.as_str(), "title": input.title }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn update(
    db: &PgPool,
    viewer: Viewer,
    ip: Option<&str>,
    id: Uuid,
    input: &CannedInput,
) -> Result<(), CannedError> {
    let row = editable(db, viewer, id).await?;
    let mut tx = db.begin().await?;
    if !store::canned::update(&mut *tx, viewer.agency_id, id, &input.title, &input.body).await? {
        return Err(CannedError::NotFound);
    }
    let target = id.to_string();
    store::audit::record(
        &mut *tx,
        Actor { viewer, client_ip: ip }.audit(AuditAction::CannedReplyUpdated,
            &target,
            json!({ "scope": Scope::of(&row).as_str(), "title": input.title, "old_title": row.title }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn delete(
    db: &PgPool,
    viewer: Viewer,
    ip: Option<&str>,
    id: Uuid,
) -> Result<(), CannedError> {
    let row = editable(db, viewer, id).await?;
    let mut tx = db.begin().await?;
    if !store::canned::delete(&mut *tx, viewer.agency_id, id).await? {
        return Err(CannedError::NotFound);
    }
    let target = id.to_string();
    store::audit::record(
        &mut *tx,
        Actor {
            viewer,
            client_ip: ip,
        }
        .audit(
            AuditAction::CannedReplyDeleted,
            &target,
            json!({ "scope": Scope::of(&row).as_str(), "title": row.title }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_fill_and_unknown_ones_are_found() {
        assert_eq!(
            fill(
                "Hi {fan_name}, {creator_name} here {fan_name}",
                "Ann",
                "Mia"
            ),
            "Hi Ann, Mia here Ann"
        );
        assert_eq!(
            unknown_placeholders("Hi {fan_name} {first_name} {x y} {first_name} {}"),
            vec!["{first_name}".to_owned()]
        );
    }

    #[test]
    fn input_bounds() {
        assert!(CannedInput::parse("  ", "x").is_err());
        assert!(CannedInput::parse("t", " \n ").is_err());
        let long = "a".repeat(MAX_BODY_CHARS + 1);
        let e = CannedInput::parse("t", &long).unwrap_err();
        assert!(e.get("body").unwrap().contains("2001"));
        let ok = CannedInput::parse(" Hello ", "Hi\nthere\n").unwrap();
        assert_eq!(ok.title, "Hello");
        assert_eq!(ok.body, "Hi\nthere");
    }
}
