//! `/metrics` of both instances: parsed into series, differenced per phase.

use std::collections::BTreeMap;

use super::setup::METRICS_TOKEN;

/// `name{labels}` → value, as the exposition lists them.
#[derive(Default, Clone)]
pub struct Series(pub BTreeMap<String, f64>);

pub async fn scrape(base: &str) -> Option<Series> {
    let r = reqwest::Client::new()
        .get(format!("{base}/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    if !r.status().is_success() {
        return None;
    }
    let text = r.text().await.ok()?;
    let mut m = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if let Some((k, v)) = line.rsplit_once(' ')
            && let Ok(v) = v.parse::<f64>()
        {
            m.insert(k.to_owned(), v);
        }
    }
    Some(Series(m))
}

impl Series {
    /// Sum of the series of `name` whose labels contain every `(k, v)` of `with`.
    pub fn sum(&self, name: &str, with: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|(k, _)| {
                let (n, labels) = k.split_once('{').unwrap_or((k.as_str(), ""));
                n == name
                    && with
                        .iter()
                        .all(|(lk, lv)| labels.contains(&format!("{lk}=\"{lv}\"")))
            })
            .map(|(_, v)| v)
            .sum()
    }

    /// Counter increase since `before` (a restarted process starts at zero: then the whole
    /// value counts).
    pub fn delta(&self, before: &Series, name: &str, with: &[(&str, &str)]) -> f64 {
        let now = self.sum(name, with);
        let was = before.sum(name, with);
        if now >= was { now - was } else { now }
    }

    /// Cumulative histogram buckets (le → count) of one labelled histogram.
    fn buckets(&self, name: &str, with: &[(&str, &str)]) -> Vec<(f64, f64)> {
        let bucket = format!("{name}_bucket");
        let mut out: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
        for (k, v) in &self.0 {
            let Some((n, labels)) = k.split_once('{') else {
                continue;
            };
            if n != bucket
                || !with
                    .iter()
                    .all(|(lk, lv)| labels.contains(&format!("{lk}=\"{lv}\"")))
            {
                continue;
            }
            let Some(le) = labels
                .split("le=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
            else {
                continue;
            };
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap_or(f64::INFINITY)
            };
            let e = out.entry(le.to_bits()).or_insert((le, 0.0));
            e.1 += v;
        }
        let mut v: Vec<(f64, f64)> = out.into_values().collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        v
    }

    /// Quantile `q` of the observations recorded since `before`, as the upper bound of the
    /// bucket it falls in (seconds); None without observations.
    pub fn quantile_since(
        &self,
        before: &Series,
        name: &str,
        with: &[(&str, &str)],
        q: f64,
    ) -> Option<f64> {
        let now = self.buckets(name, with);
        let was = before.buckets(name, with);
        let restarted = now.last().map_or(0.0, |b| b.1) < was.last().map_or(0.0, |b| b.1);
        let diff: Vec<(f64, f64)> = now
            .iter()
            .map(|(le, c)| {
                let w = if restarted {
                    0.0
                } else {
                    was.iter().find(|(l, _)| l == le).map_or(0.0, |b| b.1)
                };
                (*le, c - w)
            })
            .collect();
        let total = diff.last()?.1;
        if total <= 0.0 {
            return None;
        }
        diff.iter()
            .find(|(_, c)| *c >= q * total)
            .map(|(le, _)| *le)
    }
}
