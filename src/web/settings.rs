//! `GET/POST /admin/settings`: the agency's settings (owners and admins
//! only): time zone, platform fee for net estimates, tip window, minimum
//! PPV price and "mark chats read when opened". One form; every field is
//! checked before anything is saved, and each changed field gets its own
//! audit entry (old → new). Never saves a partly valid form.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

use crate::domain::{AgencyZone, AuditAction, FieldErrors, MinPpvPrice, PlatformFee, TipWindow};
use crate::http::client_ip::ClientIp;
use crate::store::{self, agency_settings::AgencySettings};
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::extract::AdminStaff;
use crate::web::render::{PageCtx, html, html_status, see_other};
use crate::web::session::{FlashKind, TypedSession};

const PATH: &str = "/admin/settings";

/// The form's fields as the page shows them: the saved values on a visit,
/// what the admin typed after a refused save.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    pub time_zone: String,
    #[serde(default)]
    pub platform_fee_percent: String,
    #[serde(default)]
    pub tip_window_minutes: String,
    #[serde(default)]
    pub min_ppv_price: String,
    /// A checkbox: present ("on") when ticked, absent otherwise.
    #[serde(default)]
    pub mark_read_on_open: Option<String>,
    /// A checkbox, like `mark_read_on_open`.
    #[serde(default)]
    pub check_fanvue_before_send: Option<String>,
    /// Empty: no cap.
    #[serde(default)]
    pub claim_cap: String,
}

impl SettingsForm {
    fn from_saved(s: &AgencySettings) -> Self {
        Self {
            time_zone: s.time_zone.name().to_owned(),
            platform_fee_percent: s.platform_fee.to_string(),
            tip_window_minutes: s.tip_window.minutes().to_string(),
            min_ppv_price: s.min_ppv_price.cents().decimal(),
            mark_read_on_open: s.mark_read_on_open.then(|| "on".to_owned()),
            check_fanvue_before_send: s.check_fanvue_before_send.then(|| "on".to_owned()),
            claim_cap: s.claim_cap.map(|n| n.to_string()).unwrap_or_default(),
        }
    }

    fn mark_read(&self) -> bool {
        self.mark_read_on_open.is_some()
    }

    /// Every field parsed, or each bad field's message in `errors`.
    fn parse(&self, errors: &mut FieldErrors) -> Option<AgencySettings> {
        let time_zone = errors.check("time_zone", AgencyZone::parse(&self.time_zone));
        let platform_fee = errors.check(
            "platform_fee_percent",
            PlatformFee::parse_percent(&self.platform_fee_percent),
        );
        let tip_window = errors.check(
            "tip_window_minutes",
            TipWindow::parse_minutes(&self.tip_window_minutes),
        );
        let min_ppv_price = errors.check(
            "min_ppv_price",
            MinPpvPrice::parse_form(&self.min_ppv_price),
        );
        let raw_cap = self.claim_cap.trim();
        let claim_cap = if raw_cap.is_empty() {
            Some(None)
        } else {
            match raw_cap.parse::<i32>() {
                Ok(n) if (1..=100).contains(&n) => Some(Some(n)),
                _ => {
                    errors.add(
                        "claim_cap",
                        "Enter a whole number from 1 to 100, or leave it empty for no cap.",
                    );
                    None
                }
            }
        };
        Some(AgencySettings {
            time_zone: time_zone?,
            platform_fee: platform_fee?,
            tip_window: tip_window?,
            min_ppv_price: min_ppv_price?,
            mark_read_on_open: self.mark_read(),
            check_fanvue_before_send: self.check_fanvue_before_send.is_some(),
            claim_cap: claim_cap?,
        })
    }
}

#[derive(Template)]
#[template(path = "admin/settings.html")]
pub struct SettingsPage {
    pub ctx: PageCtx,
    pub form: SettingsForm,
    pub errors: FieldErrors,
    /// The saved zone and the time now in it ("2026-12-02 17:45 +0545").
    pub saved_zone: &'static str,
    pub now_in_zone: String,
    pub zones: Vec<&'static str>,
    /// Bounds for the hints.
    pub min_ppv_floor: String,
    pub tip_window_max: i32,
}

impl SettingsPage {
    fn new(ctx: PageCtx, saved: &AgencySettings, form: SettingsForm, errors: FieldErrors) -> Self {
        Self {
            ctx,
            form,
            errors,
            saved_zone: saved.time_zone.name(),
            now_in_zone: saved.time_zone.date_time(Utc::now()),
            zones: AgencyZone::all_names().collect(),
            min_ppv_floor: MinPpvPrice::FLOOR.to_string(),
            tip_window_max: TipWindow::MAX_MINUTES,
        }
    }
}

/// One changed setting, as the audit log records it.
struct Change {
    setting: &'static str,
    label: &'static str,
    from: serde_json::Value,
    to: serde_json::Value,
}

/// The settings that differ between `old` and `new`, in form order.
fn changes(old: &AgencySettings, new: &AgencySettings) -> Vec<Change> {
    use serde_json::json;
    let mut out = Vec::new();
    let mut push = |setting, label, from: serde_json::Value, to: serde_json::Value| {
        if from != to {
            out.push(Change {
                setting,
                label,
                from,
                to,
            });
        }
    };
    push(
        "time_zone",
        "Time zone",
        json!(old.time_zone.name()),
        json!(new.time_zone.name()),
    );
    push(
        "platform_fee_bps",
        "Platform fee",
        json!(old.platform_fee.bps()),
        json!(new.platform_fee.bps()),
    );
    push(
        "tip_window_minutes",
        "Tip window",
        json!(old.tip_window.minutes()),
        json!(new.tip_window.minutes()),
    );
    push(
        "min_ppv_price_cents",
        "Minimum PPV price",
        json!(old.min_ppv_price.cents().get()),
        json!(new.min_ppv_price.cents().get()),
    );
    push(
        "mark_read_on_open",
        "Mark chats read when opened",
        json!(old.mark_read_on_open),
        json!(new.mark_read_on_open),
    );
    push(
        "check_fanvue_before_send",
        "Check Fanvue before sending",
        json!(old.check_fanvue_before_send),
        json!(new.check_fanvue_before_send),
    );
    push(
        "claim_cap",
        "Claims per chatter",
        json!(old.claim_cap),
        json!(new.claim_cap),
    );
    out
}

pub async fn show(
    state: web::Data<AppState>,
    session: Session,
    me: AdminStaff,
) -> Result<HttpResponse, WebError> {
    let saved = store::agency_settings::get(&state.pool, me.agency_id).await?;
    html(&SettingsPage::new(
        PageCtx::new(&session, Some(&me), "settings")?,
        &saved,
        SettingsForm::from_saved(&saved),
        FieldErrors::default(),
    ))
}

pub async fn save(
    state: web::Data<AppState>,
    session: Session,
    me: AdminStaff,
    ip: ClientIp,
    form: web::Form<SettingsForm>,
) -> Result<HttpResponse, WebError> {
    let form = form.into_inner();
    let mut errors = FieldErrors::default();
    let parsed = form.parse(&mut errors);
    let mut tx = state.pool.begin().await?;
    let saved = store::agency_settings::get_for_update(&mut tx, me.agency_id).await?;
    if let Some(new) = &parsed
        && new.time_zone != saved.time_zone
        && !store::agency_settings::database_knows_zone(&mut *tx, new.time_zone).await?
    {
        errors.add(
            "time_zone",
            "The database server does not know this time zone yet (its tz data is older); choose a neighbouring zone.",
        );
    }
    let Some(new) = parsed.filter(|_| errors.is_empty()) else {
        drop(tx);
        let page = SettingsPage::new(
            PageCtx::new(&session, Some(&me), "settings")?,
            &saved,
            form,
            errors,
        );
        return html_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    let changed = changes(&saved, &new);
    if changed.is_empty() {
        drop(tx);
        TypedSession(&session).flash(FlashKind::Info, "Nothing to save: no setting changed.");
        return Ok(see_other(PATH));
    }
    store::agency_settings::save(&mut *tx, me.agency_id, &new).await?;
    for c in &changed {
        store::audit::record(
            &mut *tx,
            me.audit(
                AuditAction::AgencySettingChanged,
                c.label,
                serde_json::json!({ "setting": c.setting, "from": c.from, "to": c.to }),
                &ip,
            ),
        )
        .await?;
    }
    tx.commit().await?;
    tracing::info!(
        settings = ?changed.iter().map(|c| c.setting).collect::<Vec<_>>(),
        "agency settings changed"
    );
    let labels: Vec<&str> = changed.iter().map(|c| c.label).collect();
    TypedSession(&session).flash(FlashKind::Success, format!("Saved: {}.", labels.join(", ")));
    Ok(see_other(PATH))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_settings_are_reported() {
        let old = AgencySettings::default();
        assert!(changes(&old, &old).is_empty());
        let new = AgencySettings {
            platform_fee: PlatformFee::from_bps(1250),
            mark_read_on_open: true,
            ..old
        };
        let c = changes(&old, &new);
        let names: Vec<_> = c.iter().map(|c| c.setting).collect();
        assert_eq!(names, ["platform_fee_bps", "mark_read_on_open"]);
        assert_eq!(c[0].from, serde_json::json!(2000));
        assert_eq!(c[0].to, serde_json::json!(1250));
    }

    #[test]
    fn every_bad_field_gets_its_own_message() {
        let form = SettingsForm {
            time_zone: "Nowhere/Land".into(),
            platform_fee_percent: "120".into(),
            tip_window_minutes: "soon".into(),
            min_ppv_price: "1".into(),
            mark_read_on_open: None,
            ..Default::default()
        };
        let mut errors = FieldErrors::default();
        assert!(form.parse(&mut errors).is_none());
        assert_eq!(errors.len(), 4);
    }
}
