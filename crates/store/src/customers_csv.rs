//! Customers in and out as CSV. Import streams row by row, each row in its own transaction (a
//! row lands whole or not at all), and reports every refused row with its line and reason.
//! Columns: `email`, `name`, `external_id`, `phone`, `consent_marketing`, `attributes` (a JSON
//! object); any other column becomes an attribute.

use crate::audit::Actor;
use crate::customers::{self, CustomerInput};
use crate::{Result, Store, StoreError};
use serde::Serialize;
use std::io::{Read, Write};
use vouch_core::Email;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RowError {
    /// The line in the file (the header is line 1).
    pub line: u64,
    pub error: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    pub errors: Vec<RowError>,
}

const KNOWN: [&str; 6] = [
    "email",
    "name",
    "external_id",
    "phone",
    "consent_marketing",
    "attributes",
];

fn parse_row(
    headers: &csv::StringRecord,
    row: &csv::StringRecord,
) -> std::result::Result<CustomerInput, String> {
    let get = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .and_then(|i| row.get(i))
            .map(str::trim)
            .map(crate::spreadsheet::unguard)
            .filter(|v| !v.is_empty())
    };
    let email = get("email")
        .map(Email::parse)
        .transpose()
        .map_err(|e| format!("email: {}", e.message))?;
    let external_id = get("external_id").map(str::to_string);
    if email.is_none() && external_id.is_none() {
        return Err("each row needs an email or an external_id".into());
    }
    let consent = match get("consent_marketing").map(|v| v.to_ascii_lowercase()) {
        None => None,
        Some(v) if ["1", "true", "yes", "y"].contains(&v.as_str()) => Some(true),
        Some(v) if ["0", "false", "no", "n"].contains(&v.as_str()) => Some(false),
        Some(v) => return Err(format!("consent_marketing: use yes or no, not {v:?}")),
    };
    let mut attributes = match get("attributes") {
        Some(text) => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => return Err("attributes: use a JSON object such as {\"tier\": \"gold\"}".into()),
        },
        None => serde_json::Map::new(),
    };
    for (i, h) in headers.iter().enumerate() {
        if !KNOWN.contains(&h)
            && let Some(v) = row
                .get(i)
                .map(str::trim)
                .map(crate::spreadsheet::unguard)
                .filter(|v| !v.is_empty())
        {
            attributes.insert(h.to_string(), v.into());
        }
    }
    Ok(CustomerInput {
        email,
        name: get("name").map(|n| n.chars().take(200).collect()),
        external_id,
        phone: get("phone").map(str::to_string),
        attributes: (!attributes.is_empty()).then_some(serde_json::Value::Object(attributes)),
        consent_marketing: consent,
        created_from: "import",
    })
}

/// Imports customers from CSV, calling `progress` every 500 rows.
pub async fn import(
    store: &Store,
    workspace_id: i64,
    input: impl Read,
    actor: &Actor,
    mut progress: impl FnMut(&ImportReport),
) -> Result<ImportReport> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::Headers)
        .from_reader(input);
    let headers = reader
        .headers()
        .map_err(|e| StoreError::Refused(format!("the file has no readable header row: {e}")))?
        .clone();
    let headers = csv::StringRecord::from(
        headers
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect::<Vec<_>>(),
    );
    if !headers.iter().any(|h| h == "email" || h == "external_id") {
        return Err(StoreError::Refused(
            "the header row needs an email or an external_id column".into(),
        ));
    }
    let mut report = ImportReport::default();
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                report.rows += 1;
                report.errors.push(RowError {
                    line,
                    error: format!("not readable as CSV: {e}"),
                });
                continue;
            }
        }
        report.rows += 1;
        let line = record.position().map_or(line, |p| p.line());
        match parse_row(&headers, &record) {
            Err(error) => report.errors.push(RowError { line, error }),
            Ok(customer) => {
                match crate::tracking::upsert_customer(store, workspace_id, &customer, actor).await
                {
                    Ok((_, true)) => report.created += 1,
                    Ok((_, false)) => report.updated += 1,
                    Err(StoreError::Conflict(what)) => report.errors.push(RowError {
                        line,
                        error: format!("{what} already exists"),
                    }),
                    Err(e) => return Err(e),
                }
            }
        }
        if report.rows % 500 == 0 {
            progress(&report);
        }
    }
    progress(&report);
    Ok(report)
}

/// Writes every customer of a workspace as CSV (the import's columns).
pub async fn export(store: &Store, workspace_id: i64, out: impl Write) -> Result<u64> {
    let mut w = csv::Writer::from_writer(out);
    let io = |e: csv::Error| StoreError::Io(std::io::Error::other(e));
    w.write_record([
        "email",
        "name",
        "external_id",
        "phone",
        "consent_marketing",
        "attributes",
    ])
    .map_err(io)?;
    let mut after = 0;
    let mut n = 0;
    loop {
        let page = {
            let mut c = store.read().await?;
            customers::list(&mut c, workspace_id, after, 1000).await?
        };
        for cu in &page {
            let consent = if cu.consent_marketing == 1 {
                "yes"
            } else {
                "no"
            };
            // A spreadsheet never runs a cell as a formula; the import undoes the guard.
            let safe = crate::spreadsheet::safe;
            w.write_record([
                safe(cu.email.as_deref().unwrap_or("")).as_ref(),
                &safe(&cu.name),
                &safe(cu.external_id.as_deref().unwrap_or("")),
                &safe(&cu.phone),
                consent,
                &safe(&cu.attributes),
            ])
            .map_err(io)?;
            n += 1;
        }
        match page.last() {
            Some(last) if page.len() == 1000 => after = last.id,
            _ => break,
        }
    }
    w.flush()?;
    Ok(n)
}
