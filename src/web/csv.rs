//! CSV downloads: RFC 4180 cells and rows, streamed as an attachment.
//!
//! A spreadsheet runs a cell that begins with `=`, `+`, `-` or `@` (and, in
//! some, a tab or carriage return) as a formula, so a fan's display name
//! could become one. Such text cells get a leading apostrophe, which every
//! spreadsheet shows as text; numbers are written by `number` and left as
//! they are, so a refund's `-500` stays a number.

use actix_web::HttpResponse;
use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use futures_util::{Stream, StreamExt};

/// One text cell, neutralised against formula injection and quoted when it
/// holds a comma, a quote or a line break.
pub fn text(value: &str) -> String {
    let risky = value
        .chars()
        .next()
        .is_some_and(|c| matches!(c, '=' | '+' | '-' | '@' | '\t' | '\r'));
    let value = if risky {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    quote(value)
}

/// One numeric cell (cents, counts): written as is.
pub fn number(value: i64) -> String {
    value.to_string()
}

fn quote(value: String) -> String {
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// Cells already encoded by `text` or `number`, joined into one record
/// ending in CRLF (RFC 4180).
pub fn record(cells: &[String]) -> String {
    let mut line = cells.join(",");
    line.push_str("\r\n");
    line
}

/// The header record of a file: plain text cells.
pub fn header(names: &[&str]) -> String {
    record(&names.iter().map(|n| text(n)).collect::<Vec<_>>())
}

/// A streamed `text/csv` attachment named `filename`: `head` first, then
/// each record as the stream yields it. An error mid-stream ends the body
/// (the client sees a truncated download rather than a silent success).
pub fn download<S, E>(filename: &str, head: String, records: S) -> HttpResponse
where
    S: Stream<Item = Result<String, E>> + 'static,
    E: Into<actix_web::Error> + 'static,
{
    let first = futures_util::stream::once(async move { Ok::<_, E>(head) });
    let body = first
        .chain(records)
        .map(|r| r.map(actix_web::web::Bytes::from).map_err(Into::into));
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            ContentDisposition {
                disposition: DispositionType::Attachment,
                parameters: vec![DispositionParam::Filename(filename.to_owned())],
            },
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_starts_are_neutralised_and_plain_text_is_not() {
        assert_eq!(text("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(text("+1"), "'+1");
        assert_eq!(text("-2"), "'-2");
        assert_eq!(text("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(text("\tx"), "'\tx");
        assert_eq!(text("Chloe"), "Chloe");
        assert_eq!(text(""), "");
        assert_eq!(number(-500), "-500");
    }

    #[test]
    fn records_quote_commas_quotes_and_line_breaks() {
        let r = record(&[
            text("a,b"),
            text("say \"hi\""),
            text("two\nlines"),
            number(7),
        ]);
        assert_eq!(r, "\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",7\r\n");
        assert_eq!(header(&["time", "amount"]), "time,amount\r\n");
    }
}
