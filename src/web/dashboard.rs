//! `/dashboard` (every role) and `/dashboard/chatters.csv`: revenue and
//! activity per chatter, per creator and per day for a period of local days
//! in the agency's zone, compared with the previous period of equal length.
//! Managers and above see everyone; a chatter sees their own figures and
//! their rank, never another chatter's revenue. Ids in the filters that are
//! not the viewer's to see (another agency's, a creator a chatter is not
//! assigned to, another chatter) are 404s.

use std::collections::{BTreeMap, HashMap};

use actix_session::Session;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use crate::domain::{AuditAction, Cents, CreatorId, Period, PeriodKind, StaffId, group_digits};
use crate::http::client_ip::ClientIp;
use crate::inbox::{Viewer, may_work_creator, visible_creators};
use crate::store;
use crate::store::dashboard::{DayPoint, Figures, Filter, Group, Keyed, Stack, StaffFilter};
use crate::web::AppState;
use crate::web::csv;
use crate::web::error::WebError;
use crate::web::extract::CurrentStaff;
use crate::web::render::{PageCtx, html};

/// The leaderboard's shrinkage: a chatter's net revenue per message is
/// blended with the agency's average as if they had sent this many more
/// messages at that average, so a handful of lucky sales cannot top it.
pub const SHRINK_MESSAGES: i64 = 500;

/// And nobody is ranked on fewer sales than this in the period.
pub const MIN_SALES: i64 = 10;

#[derive(Debug, Deserialize, Default)]
pub struct DashQuery {
    period: Option<String>,
    from: Option<String>,
    to: Option<String>,
    creator: Option<String>,
    staff: Option<String>,
    chart: Option<String>,
}

/// A figure, with the drill-down it links to (managers and above).
pub struct Cell {
    pub text: String,
    pub href: Option<String>,
}

pub struct FigureRow {
    pub name: String,
    pub muted: bool,
    pub gross: Cell,
    pub gross_change: String,
    pub change_class: &'static str,
    pub net: Cell,
    pub ppv: Cell,
    pub tips: Cell,
    pub non_chat: Cell,
    pub sales: Cell,
    pub ppvs_sent: String,
    pub ppvs_unlocked: String,
    pub unlock_rate: String,
    pub messages_sent: String,
    pub per_message: String,
    pub median: String,
    pub p90: String,
    pub chats_answered: String,
}

pub struct Stat {
    pub label: &'static str,
    pub value: String,
    pub previous: String,
    pub change: String,
    pub change_class: &'static str,
}

pub struct LeaderRow {
    pub rank: usize,
    pub name: String,
    pub score: String,
    pub net: String,
    pub messages: String,
    pub sales: String,
}

pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

pub struct PeriodLink {
    pub label: &'static str,
    pub href: String,
    pub current: bool,
}

/// The stacked bar chart, laid out here so the template only prints
/// coordinates (SVG presentation attributes and CSS classes: CSP-safe).
pub struct Chart {
    pub width: i64,
    pub height: i64,
    pub plot_left: i64,
    pub plot_right: i64,
    pub plot_top: i64,
    pub plot_bottom: i64,
    pub bars: Vec<Bar>,
    pub y_ticks: Vec<Tick>,
    pub x_labels: Vec<Tick>,
    pub legend: Vec<LegendItem>,
    /// The table alternative: one row per day, one column per series.
    pub table_head: Vec<String>,
    pub table_rows: Vec<(String, Vec<String>, String)>,
    pub empty: bool,
}

pub struct Bar {
    pub x: String,
    pub y: String,
    pub w: String,
    pub h: String,
    pub class: String,
    pub title: String,
}

pub struct Tick {
    pub pos: String,
    pub label: String,
}

pub struct LegendItem {
    pub class: String,
    pub label: String,
    pub x: i64,
}

#[derive(Template)]
#[template(path = "dashboard/show.html")]
pub struct DashboardPage {
    pub ctx: PageCtx,
    pub manager: bool,
    pub zone: String,
    pub period: Period,
    pub previous: Period,
    pub period_links: Vec<PeriodLink>,
    pub kinds: Vec<Choice>,
    pub creators: Vec<Choice>,
    pub staff: Vec<Choice>,
    pub stack_by_staff: bool,
    pub stats: Vec<Stat>,
    pub chatters: Vec<FigureRow>,
    pub creator_rows: Vec<FigureRow>,
    pub leaders: Vec<LeaderRow>,
    /// A chatter's own place: (rank, of how many), if ranked.
    pub my_rank: Option<(usize, usize)>,
    pub shrink_messages: i64,
    pub min_sales: i64,
    pub chart: Chart,
    pub csv_href: String,
    pub sales_csv_href: String,
    pub sales_href: String,
    pub earnings_href: String,
    pub chart_staff_href: String,
    pub chart_source_href: String,
}

/// The request's period and filters, checked against what the viewer may
/// see.
struct Scope {
    period: Period,
    filter: Filter,
    stack: Stack,
    manager: bool,
    zone: crate::domain::AgencyZone,
    creators: Vec<store::creators::Creator>,
    staff: Vec<store::staff::Staff>,
}

fn not_found<T>(_: T) -> WebError {
    WebError::NotFound
}

async fn scope(state: &AppState, me: &CurrentStaff, q: &DashQuery) -> Result<Scope, WebError> {
    let pool = &state.pool;
    let zone = store::agency_settings::time_zone(pool, me.agency_id).await?;
    let today = store::dashboard::local_today(pool, me.agency_id).await?;
    let period = Period::resolve(
        q.period.as_deref(),
        q.from.as_deref(),
        q.to.as_deref(),
        today,
    )
    .map_err(|e| WebError::BadRequest(e.0))?;
    let manager = me.role.is_manager_or_above();
    let viewer = Viewer {
        agency_id: me.agency_id,
        staff_id: me.id,
        role: me.role,
    };
    let creator = match q
        .creator
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(raw) => {
            let id: CreatorId = raw.parse().map_err(not_found)?;
            if !may_work_creator(pool, viewer, id).await? {
                return Err(WebError::NotFound);
            }
            Some(id)
        }
    };
    let staff_list = store::staff::list(pool, me.agency_id).await?;
    let staff = match q.staff.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some("none") if manager => Some(StaffFilter::Nobody),
        Some(raw) => {
            let id: StaffId = raw.parse().map_err(not_found)?;
            if !staff_list.iter().any(|s| s.id == id) || (!manager && id != me.id) {
                return Err(WebError::NotFound);
            }
            Some(StaffFilter::Staff(id))
        }
    };
    // A chatter's figures are always their own.
    let staff = if manager {
        staff
    } else {
        Some(StaffFilter::Staff(me.id))
    };
    let stack = match q.chart.as_deref() {
        Some("source") => Stack::Source,
        _ if !manager => Stack::Source,
        _ => Stack::Staff,
    };
    Ok(Scope {
        period,
        filter: Filter { creator, staff },
        stack,
        manager,
        zone,
        creators: visible_creators(pool, viewer).await?,
        staff: staff_list,
    })
}

fn ymd(d: chrono::NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// A URL with the query pairs that are set.
fn link(path: &str, pairs: &[(&str, Option<String>)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if let Some(v) = v {
            s.append_pair(k, v);
        }
    }
    let q = s.finish();
    if q.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{q}")
    }
}

fn staff_param(f: Option<StaffFilter>) -> Option<String> {
    match f {
        Some(StaffFilter::Staff(s)) => Some(s.to_string()),
        Some(StaffFilter::Nobody) => Some("none".to_owned()),
        None => None,
    }
}

/// The drill-down on `/sales`: `from`, `to` (inclusive local days),
/// `creator`, `staff` (`none`: nobody), `basis`, `kind`.
fn drill(
    period: &Period,
    creator: Option<CreatorId>,
    staff: Option<StaffFilter>,
    basis: Option<&str>,
    kind: Option<&str>,
) -> String {
    link(
        "/sales",
        &[
            ("from", Some(ymd(period.from))),
            ("to", Some(ymd(period.to))),
            ("creator", creator.map(|c| c.to_string())),
            ("staff", staff_param(staff)),
            ("basis", basis.map(str::to_owned)),
            ("kind", kind.map(str::to_owned)),
        ],
    )
}

pub fn money(cents: i64) -> String {
    Cents::new(cents).to_string()
}

fn count(n: i64) -> String {
    if n < 0 {
        format!("-{}", group_digits(n.unsigned_abs()))
    } else {
        group_digits(n as u64)
    }
}

fn rate(part: i64, whole: i64) -> String {
    if whole <= 0 {
        "—".to_owned()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

fn per_message(cents: i64, messages: i64) -> String {
    if messages <= 0 {
        "—".to_owned()
    } else {
        money((cents as f64 / messages as f64).round() as i64)
    }
}

/// "45s", "4m 05s", "2h 10m", "3d 4h".
pub fn duration(secs: Option<f64>) -> String {
    let Some(s) = secs else {
        return "—".to_owned();
    };
    let s = s.round().max(0.0) as i64;
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}d {}h", s / 86_400, (s % 86_400) / 3600)
    }
}

fn change(cur: i64, prev: i64) -> (String, &'static str) {
    if prev == 0 {
        if cur == 0 {
            ("no change".to_owned(), "muted")
        } else {
            ("new".to_owned(), "up")
        }
    } else {
        let pct = (cur - prev) as f64 * 100.0 / prev.abs() as f64;
        let class = if pct > 0.0 {
            "up"
        } else if pct < 0.0 {
            "down"
        } else {
            "muted"
        };
        (format!("{pct:+.0}%"), class)
    }
}

/// One table row: figures of `k`, cells linking to the drill-down narrowed
/// by `creator`/`staff` when `links` (managers and above).
fn figure_row(
    name: String,
    muted: bool,
    k: &Keyed,
    period: &Period,
    creator: Option<CreatorId>,
    staff: Option<StaffFilter>,
    links: bool,
) -> FigureRow {
    let f = &k.cur;
    let cell = |text: String, basis: Option<&str>, kind: Option<&str>| Cell {
        text,
        href: links.then(|| drill(period, creator, staff, basis, kind)),
    };
    let (gross_change, change_class) = change(f.gross, k.prev.gross);
    FigureRow {
        name,
        muted,
        gross: cell(money(f.gross), None, None),
        gross_change,
        change_class,
        net: cell(money(f.net), None, None),
        ppv: cell(money(f.ppv), None, Some("ppv")),
        tips: cell(money(f.tips), None, Some("tip")),
        non_chat: cell(money(f.non_chat), Some("non_chat"), None),
        sales: cell(count(f.sales), None, None),
        ppvs_sent: count(f.ppvs_sent),
        ppvs_unlocked: count(f.ppvs_unlocked),
        unlock_rate: rate(f.ppvs_unlocked, f.ppvs_sent),
        messages_sent: count(f.messages_sent),
        per_message: per_message(f.gross, f.messages_sent),
        median: duration(f.median_secs),
        p90: duration(f.p90_secs),
        chats_answered: count(f.chats_answered),
    }
}

/// A staff member's leaderboard score: net revenue per message sent,
/// shrunk toward the agency's average (`SHRINK_MESSAGES`).
fn shrunk_score(f: &Figures, average: f64) -> f64 {
    (f.net as f64 + SHRINK_MESSAGES as f64 * average) / (f.messages_sent + SHRINK_MESSAGES) as f64
}

/// Staff with enough sales to be ranked, best first, with their scores
/// (the average is of the ranked staff).
fn ranking(rows: &[Keyed]) -> Vec<(StaffId, f64, &Figures)> {
    let ranked: Vec<&Keyed> = rows
        .iter()
        .filter(|k| k.key.is_some() && k.cur.sales >= MIN_SALES)
        .collect();
    let net: i64 = ranked.iter().map(|k| k.cur.net).sum();
    let msgs: i64 = ranked.iter().map(|k| k.cur.messages_sent).sum();
    let average = if msgs > 0 {
        net as f64 / msgs as f64
    } else {
        0.0
    };
    let mut out: Vec<(StaffId, f64, &Figures)> = ranked
        .iter()
        .filter_map(|k| {
            k.key.map(|id| {
                (
                    StaffId::from_uuid(id),
                    shrunk_score(&k.cur, average),
                    &k.cur,
                )
            })
        })
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

const SERIES_CLASSES: usize = 8;

fn kind_label(kind: &str) -> String {
    match kind {
        "ppv" => "PPV".to_owned(),
        "tip" => "Tips".to_owned(),
        "refund" => "Refunds".to_owned(),
        "chargeback" => "Chargebacks".to_owned(),
        other => {
            let mut c = other.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        }
    }
}

/// A round ceiling for the y axis (1, 2 or 5 × a power of ten).
fn nice_ceiling(v: i64) -> i64 {
    if v <= 0 {
        return 100;
    }
    let mut p = 1i64;
    while p.saturating_mul(10) <= v {
        p = p.saturating_mul(10);
    }
    for m in [1, 2, 5, 10] {
        if p.saturating_mul(m) >= v {
            return p.saturating_mul(m);
        }
    }
    p.saturating_mul(10)
}

fn chart(period: &Period, points: &[DayPoint], names: &dyn Fn(&str) -> String) -> Chart {
    let (width, height) = (760i64, 280i64);
    let (left, right, top, bottom) = (72i64, 744i64, 36i64, 240i64);
    // Series in order of their total, largest first (stable colours).
    let mut totals: BTreeMap<&str, i64> = BTreeMap::new();
    for p in points {
        *totals.entry(p.series.as_str()).or_default() += p.gross;
    }
    let mut series: Vec<(&str, i64)> = totals.into_iter().collect();
    series.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let index: HashMap<&str, usize> = series.iter().enumerate().map(|(i, s)| (s.0, i)).collect();
    let days: Vec<chrono::NaiveDate> = period.each_day().collect();
    let mut by_day: BTreeMap<chrono::NaiveDate, Vec<i64>> = BTreeMap::new();
    for p in points {
        let row = by_day.entry(p.day).or_insert_with(|| vec![0; series.len()]);
        row[index[p.series.as_str()]] += p.gross;
    }
    let day_max = by_day
        .values()
        .map(|v| v.iter().filter(|x| **x > 0).sum::<i64>())
        .max()
        .unwrap_or(0);
    let ceiling = nice_ceiling(day_max);
    let plot_h = (bottom - top) as f64;
    let slot = (right - left) as f64 / days.len().max(1) as f64;
    let bar_w = (slot * 0.7).max(1.0);
    let mut bars = Vec::new();
    for (i, d) in days.iter().enumerate() {
        let Some(vals) = by_day.get(d) else { continue };
        let mut y = bottom as f64;
        for (si, v) in vals.iter().enumerate() {
            // Refunds are negative; the stack shows what was earned.
            if *v <= 0 {
                continue;
            }
            let h = *v as f64 / ceiling as f64 * plot_h;
            y -= h;
            bars.push(Bar {
                x: format!(
                    "{:.1}",
                    left as f64 + slot * i as f64 + (slot - bar_w) / 2.0
                ),
                y: format!("{y:.1}"),
                w: format!("{bar_w:.1}"),
                h: format!("{h:.1}"),
                class: format!("series-{}", si % SERIES_CLASSES),
                title: format!("{} · {}: {}", ymd(*d), names(series[si].0), money(*v)),
            });
        }
    }
    let y_ticks = (0..=4)
        .map(|i| Tick {
            pos: format!("{:.1}", bottom as f64 - plot_h * i as f64 / 4.0),
            label: money(ceiling * i / 4),
        })
        .collect();
    let every = days.len().div_ceil(8).max(1);
    let x_labels = days
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every == 0)
        .map(|(i, d)| Tick {
            pos: format!("{:.1}", left as f64 + slot * (i as f64 + 0.5)),
            label: d.format("%b %-d").to_string(),
        })
        .collect();
    let legend = series
        .iter()
        .enumerate()
        .take(SERIES_CLASSES)
        .map(|(i, s)| LegendItem {
            class: format!("series-{}", i % SERIES_CLASSES),
            label: names(s.0),
            x: left + (i as i64) * 84,
        })
        .collect();
    let table_head = series.iter().map(|s| names(s.0)).collect();
    let table_rows = days
        .iter()
        .map(|d| {
            let vals = by_day.get(d);
            let cells = (0..series.len())
                .map(|i| money(vals.map(|v| v[i]).unwrap_or(0)))
                .collect();
            let total = vals.map(|v| v.iter().sum()).unwrap_or(0);
            (ymd(*d), cells, money(total))
        })
        .collect();
    Chart {
        width,
        height,
        plot_left: left,
        plot_right: right,
        plot_top: top,
        plot_bottom: bottom,
        bars,
        y_ticks,
        x_labels,
        legend,
        table_head,
        table_rows,
        empty: points.is_empty(),
    }
}

fn choice(value: String, label: String, selected: bool) -> Choice {
    Choice {
        value,
        label,
        selected,
    }
}

fn stat(label: &'static str, cur: i64, prev: i64, fmt: fn(i64) -> String) -> Stat {
    let (change, change_class) = change(cur, prev);
    Stat {
        label,
        value: fmt(cur),
        previous: fmt(prev),
        change,
        change_class,
    }
}

pub async fn show(
    state: web::Data<AppState>,
    session: Session,
    me: CurrentStaff,
    q: web::Query<DashQuery>,
) -> Result<HttpResponse, WebError> {
    let s = scope(&state, &me, &q).await?;
    let pool = &state.pool;
    let period = s.period;
    let staff_name: HashMap<Uuid, String> = s
        .staff
        .iter()
        .map(|m| (m.id.as_uuid(), m.display_name.clone()))
        .collect();
    let creator_name: HashMap<Uuid, String> = s
        .creators
        .iter()
        .map(|c| (c.id.as_uuid(), c.display_name.clone()))
        .collect();
    let name_of = |k: Option<Uuid>| match k {
        Some(id) => staff_name
            .get(&id)
            .cloned()
            .unwrap_or_else(|| "Removed staff member".to_owned()),
        None => "Not credited to a chatter".to_owned(),
    };

    // Everyone's figures (narrowed by creator only): the table shows the
    // chosen ones, the leaderboard ranks all.
    let store::dashboard::Overview {
        everyone,
        totals,
        by_creator,
    } = store::dashboard::overview(pool, me.agency_id, &period, s.filter).await?;
    let ranking = ranking(&everyone);
    let points = store::dashboard::daily(pool, me.agency_id, &period, s.filter, s.stack).await?;

    let links = s.manager;
    let shown = |k: &&Keyed| match s.filter.staff {
        None => true,
        Some(StaffFilter::Nobody) => k.key.is_none(),
        Some(StaffFilter::Staff(id)) => k.key == Some(id.as_uuid()),
    };
    let chatters: Vec<FigureRow> = everyone
        .iter()
        .filter(shown)
        .map(|k| {
            let staff = Some(match k.key {
                Some(id) => StaffFilter::Staff(StaffId::from_uuid(id)),
                None => StaffFilter::Nobody,
            });
            figure_row(
                name_of(k.key),
                k.key.is_none(),
                k,
                &period,
                s.filter.creator,
                staff,
                links,
            )
        })
        .collect();
    let creator_rows = by_creator
        .iter()
        .map(|k| {
            let id = k.key.map(CreatorId::from_uuid);
            let name = k
                .key
                .and_then(|c| creator_name.get(&c).cloned())
                .unwrap_or_else(|| "Creator".to_owned());
            figure_row(name, false, k, &period, id, s.filter.staff, links)
        })
        .collect();
    let leaders = if s.manager {
        ranking
            .iter()
            .enumerate()
            .map(|(i, (id, score, f))| LeaderRow {
                rank: i + 1,
                name: name_of(Some(id.as_uuid())),
                score: money(score.round() as i64),
                net: money(f.net),
                messages: count(f.messages_sent),
                sales: count(f.sales),
            })
            .collect()
    } else {
        Vec::new()
    };
    let my_rank = ranking
        .iter()
        .position(|(id, _, _)| *id == me.id)
        .map(|i| (i + 1, ranking.len()));

    let series_name = |key: &str| -> String {
        match s.stack {
            Stack::Source => kind_label(key),
            Stack::Staff => match key.parse::<Uuid>() {
                Ok(id) => name_of(Some(id)),
                Err(_) => name_of(None),
            },
        }
    };
    let chart = chart(&period, &points, &series_name);

    let t = &totals;
    let stats = vec![
        stat("Gross", t.cur.gross, t.prev.gross, money),
        stat("Net", t.cur.net, t.prev.net, money),
        stat("Sales", t.cur.sales, t.prev.sales, count),
        stat(
            "Messages sent",
            t.cur.messages_sent,
            t.prev.messages_sent,
            count,
        ),
        stat(
            "Chats answered",
            t.cur.chats_answered,
            t.prev.chats_answered,
            count,
        ),
    ];

    let base_pairs = |p: &Period, chart: Option<&str>| -> Vec<(&'static str, Option<String>)> {
        let mut v = vec![
            ("period", Some(p.kind.as_str().to_owned())),
            ("creator", s.filter.creator.map(|c| c.to_string())),
            (
                "staff",
                if s.manager {
                    staff_param(s.filter.staff)
                } else {
                    None
                },
            ),
            ("chart", chart.map(str::to_owned)),
        ];
        if p.kind == PeriodKind::Custom {
            v.push(("from", Some(ymd(p.from))));
            v.push(("to", Some(ymd(p.to))));
        }
        v
    };
    let stack_name = match s.stack {
        Stack::Staff => "staff",
        Stack::Source => "source",
    };
    let period_links = PeriodKind::ALL
        .iter()
        .filter(|k| **k != PeriodKind::Custom)
        .map(|k| {
            let p = Period { kind: *k, ..period };
            PeriodLink {
                label: k.label(),
                href: link("/dashboard", &base_pairs(&p, Some(stack_name))),
                current: *k == period.kind,
            }
        })
        .collect();
    let export_pairs = vec![
        ("from", Some(ymd(period.from))),
        ("to", Some(ymd(period.to))),
        ("creator", s.filter.creator.map(|c| c.to_string())),
        (
            "staff",
            if s.manager {
                staff_param(s.filter.staff)
            } else {
                None
            },
        ),
    ];
    let kinds = PeriodKind::ALL
        .iter()
        .map(|k| {
            choice(
                k.as_str().to_owned(),
                k.label().to_owned(),
                *k == period.kind,
            )
        })
        .collect();
    let creators = s
        .creators
        .iter()
        .map(|c| {
            choice(
                c.id.to_string(),
                c.display_name.clone(),
                s.filter.creator == Some(c.id),
            )
        })
        .collect();
    let staff = if s.manager {
        let mut v: Vec<Choice> = s
            .staff
            .iter()
            .map(|m| {
                choice(
                    m.id.to_string(),
                    m.display_name.clone(),
                    s.filter.staff == Some(StaffFilter::Staff(m.id)),
                )
            })
            .collect();
        v.push(choice(
            "none".to_owned(),
            "Not credited to a chatter".to_owned(),
            s.filter.staff == Some(StaffFilter::Nobody),
        ));
        v
    } else {
        Vec::new()
    };

    html(&DashboardPage {
        ctx: PageCtx::new(&session, Some(&me), "dashboard")?,
        manager: s.manager,
        zone: s.zone.name().to_owned(),
        previous: period.previous(),
        period_links,
        kinds,
        creators,
        staff,
        stack_by_staff: s.stack == Stack::Staff,
        stats,
        chatters,
        creator_rows,
        leaders,
        my_rank,
        shrink_messages: SHRINK_MESSAGES,
        min_sales: MIN_SALES,
        chart,
        csv_href: link("/dashboard/chatters.csv", &export_pairs),
        sales_csv_href: link("/sales/export.csv", &export_pairs),
        sales_href: drill(&period, s.filter.creator, s.filter.staff, None, None),
        earnings_href: link(
            "/earnings",
            &[
                ("from", Some(ymd(period.from))),
                ("to", Some(ymd(period.to))),
                ("creator", s.filter.creator.map(|c| c.to_string())),
            ],
        ),
        chart_staff_href: link("/dashboard", &base_pairs(&period, Some("staff"))),
        chart_source_href: link("/dashboard", &base_pairs(&period, Some("source"))),
        period,
    })
}

/// `/dashboard/chatters.csv`: the per-chatter table of the period and
/// filters (a chatter gets their own row), audited.
pub async fn chatters_csv(
    state: web::Data<AppState>,
    me: CurrentStaff,
    ip: ClientIp,
    q: web::Query<DashQuery>,
) -> Result<HttpResponse, WebError> {
    let s = scope(&state, &me, &q).await?;
    let period = s.period;
    let rows =
        store::dashboard::figures(&state.pool, me.agency_id, &period, s.filter, Group::Staff)
            .await?;
    let names: HashMap<Uuid, String> = s
        .staff
        .iter()
        .map(|m| (m.id.as_uuid(), m.display_name.clone()))
        .collect();
    store::audit::record(
        &state.pool,
        me.audit(
            AuditAction::DataExported,
            "dashboard/chatters.csv",
            serde_json::json!({
                "export": "dashboard_chatters",
                "from": ymd(period.from),
                "to": ymd(period.to),
                "creator": s.filter.creator,
                "staff": staff_param(s.filter.staff),
                "rows": rows.len(),
            }),
            &ip,
        ),
    )
    .await?;
    let head = csv::header(&[
        "staff_id",
        "staff",
        "from",
        "to",
        "time_zone",
        "gross_cents",
        "net_cents",
        "ppv_cents",
        "tips_cents",
        "sales",
        "ppvs_sent",
        "ppvs_unlocked",
        "unlock_rate_percent",
        "messages_sent",
        "gross_per_message_cents",
        "median_response_seconds",
        "p90_response_seconds",
        "chats_answered",
    ]);
    let zone = s.zone.name();
    let records: Vec<Result<String, actix_web::Error>> = rows
        .iter()
        .map(|k| {
            let f = &k.cur;
            let opt = |v: Option<f64>| v.map(|x| csv::number(x.round() as i64)).unwrap_or_default();
            Ok(csv::record(&[
                k.key
                    .map(|u| u.to_string())
                    .unwrap_or_else(|| "none".to_owned()),
                csv::text(&match k.key {
                    Some(id) => names
                        .get(&id)
                        .cloned()
                        .unwrap_or_else(|| "Removed staff member".to_owned()),
                    None => "Not credited to a chatter".to_owned(),
                }),
                ymd(period.from),
                ymd(period.to),
                csv::text(zone),
                csv::number(f.gross),
                csv::number(f.net),
                csv::number(f.ppv),
                csv::number(f.tips),
                csv::number(f.sales),
                csv::number(f.ppvs_sent),
                csv::number(f.ppvs_unlocked),
                if f.ppvs_sent > 0 {
                    format!("{:.1}", f.ppvs_unlocked as f64 * 100.0 / f.ppvs_sent as f64)
                } else {
                    String::new()
                },
                csv::number(f.messages_sent),
                if f.messages_sent > 0 {
                    csv::number((f.gross as f64 / f.messages_sent as f64).round() as i64)
                } else {
                    String::new()
                },
                opt(f.median_secs),
                opt(f.p90_secs),
                csv::number(f.chats_answered),
            ]))
        })
        .collect();
    let filename = format!(
        "chatters-{}-{}.csv",
        period.from.format("%Y%m%d"),
        period.to.format("%Y%m%d")
    );
    Ok(csv::download(
        &filename,
        head,
        futures_util::stream::iter(records),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(None), "—");
        assert_eq!(duration(Some(45.4)), "45s");
        assert_eq!(duration(Some(245.0)), "4m 05s");
        assert_eq!(duration(Some(7800.0)), "2h 10m");
        assert_eq!(duration(Some(273_600.0)), "3d 4h");
    }

    #[test]
    fn three_lucky_sales_do_not_top_the_leaderboard() {
        let k = |id: u128, net: i64, msgs: i64, sales: i64| Keyed {
            key: Some(Uuid::from_u128(id)),
            cur: Figures {
                net,
                messages_sent: msgs,
                sales,
                ..Figures::default()
            },
            prev: Figures::default(),
        };
        // A steady chatter: $2,000 net over 2,000 messages ($1/message).
        // A lucky one: $300 from three sales over 3 messages ($100/message).
        // A fast starter: $400 from twelve sales over 40 messages.
        let rows = vec![
            k(1, 200_000, 2_000, 150),
            k(2, 30_000, 3, 3),
            k(3, 50_000, 1_000, 40),
            k(4, 40_000, 40, 12),
        ];
        let r = ranking(&rows);
        let ids: Vec<u128> = r.iter().map(|x| x.0.as_uuid().as_u128()).collect();
        assert_eq!(
            ids,
            vec![4, 1, 3],
            "three sales are not ranked; the shrunk rate orders the rest"
        );
    }

    #[test]
    fn drill_down_links_follow_the_contract() {
        let p = Period::resolve(
            Some("custom"),
            Some("2026-11-01"),
            Some("2026-11-30"),
            chrono::NaiveDate::MIN,
        )
        .unwrap();
        let c = CreatorId::from_uuid(Uuid::from_u128(7));
        assert_eq!(
            drill(
                &p,
                Some(c),
                Some(StaffFilter::Nobody),
                Some("non_chat"),
                Some("tip")
            ),
            format!(
                "/sales?from=2026-11-01&to=2026-11-30&creator={c}&staff=none&basis=non_chat&kind=tip"
            )
        );
        assert_eq!(nice_ceiling(3_400), 5_000);
        assert_eq!(nice_ceiling(10_000), 10_000);
    }
}
