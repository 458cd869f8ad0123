//! Turning rows into calls: a fixed pool of workers running one worker loop, and each row's
//! steps (a keyed row's lookup, GET and merge, the undo line, the PATCH). Every call goes
//! through `call.rs` (the one pacing point, [`crate::pacer`], with its retries, backoff and
//! `Retry-After`, a shared pause after a 429, and one token refresh after a 401). Rows come in
//! per-customer order (`rows.rs`).

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::customer::{self, Cell, Change, Field};
use crate::http::api::Reply;
use crate::input::Row;
use crate::outcome::{Outcome, OutcomeKind};
use crate::pipeline::call::{Call, Called, Caller, Link};
use crate::pipeline::rows::{Rows, customer_of};
use crate::results::Line;
use crate::stop::{Stop, Stopper};

/// What the workers do with a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// GET, overlay, PATCH if changed.
    Merge,
    /// PATCH the row as the whole customer.
    Replace,
    /// GET and overlay only (`ccbulk plan`).
    Plan,
}

/// Settings of the workers (how calls are made is the [`Link`]'s).
#[derive(Clone, Debug)]
pub struct Settings {
    pub action: Action,
    pub concurrency: usize,
    pub retry_provider_default: bool,
}

/// Everything a worker needs.
pub struct Dispatcher {
    /// The API, tokens, pacer and retry policy every call goes through.
    pub link: Link,
    pub settings: Settings,
    pub stopper: Stopper,
    /// Called by the worker for each finished row before it takes another, so `--max-failures`
    /// and the systematic-failure rule stop the run before the next row starts (the writer
    /// learns of the row later).
    pub on_outcome: Box<dyn Fn(&Outcome) + Send + Sync>,
    /// Merge mode's undo file: a row's line is written before its PATCH is sent.
    pub undo: Option<Arc<crate::undo::Shared>>,
}

impl Dispatcher {
    /// What a call needs, lent to `call.rs`.
    fn caller(&self) -> Caller<'_> {
        self.link.caller(&self.stopper)
    }

    /// Runs the worker pool until the input ends or the run stops. Returns when every started row
    /// has sent its outcome; false if a worker panicked (its row's outcome is lost, so the run
    /// is one stopped early).
    pub async fn run(self: Arc<Self>, rows: mpsc::Receiver<Row>, out: mpsc::Sender<Line>) -> bool {
        let rows = Arc::new(Rows::new(rows));
        let workers: Vec<_> = (0..self.settings.concurrency)
            .map(|_| {
                let (me, rows, out) = (self.clone(), rows.clone(), out.clone());
                tokio::spawn(async move { me.worker(&rows, out).await })
            })
            .collect();
        drop(out);
        let mut all_well = true;
        for w in workers {
            if w.await.is_err() {
                // The others go on with what they hold, but no new row starts.
                all_well = false;
                self.stopper.stop(Stop::Broken(
                    "a worker stopped unexpectedly (a bug in ccbulk)".into(),
                ));
            }
        }
        all_well
    }

    /// The one worker loop: a row from the input (or the next of the customer it just did), its
    /// calls, its outcome to the writer, and no next row before that outcome is written: a crash
    /// (kill -9) leaves at most one row per worker sent and not recorded, which is all that
    /// `--resume` sends again (README, "What a crash can send twice").
    async fn worker(&self, rows: &Rows, out: mpsc::Sender<Line>) {
        let cancel = &self.stopper.token;
        let mut next = None;
        loop {
            let row = match next.take() {
                Some(row) => row,
                None => match rows.take(cancel).await {
                    Some(row) => row,
                    None => break,
                },
            };
            if self.stopper.is_stopped() {
                break;
            }
            let id = customer_of(&row);
            if let Some(outcome) = self.process(row).await {
                (self.on_outcome)(&outcome);
                let (written, recorded) = oneshot::channel();
                let line = Line {
                    outcome,
                    written: Some(written),
                };
                // The writer gone (it could not write): this row and the next are not recorded.
                if out.send(line).await.is_err() || recorded.await.is_err() {
                    break;
                }
            }
            // The customer's next row, if one waits, goes on this worker: one at a time, in order.
            next = rows.finished(id);
        }
    }

    /// One row from start to outcome; `None` if the run was stopped before the row's PATCH was
    /// sent (it changed nothing, so it stays out of the results and `--resume` sends it).
    async fn process(&self, mut row: Row) -> Option<Outcome> {
        let Ok(mapped) = &mut row.mapped else {
            return Some(Outcome::invalid(row));
        };
        // One correlation id for all the row's calls, a keyed row's lookup included.
        let correlation = *mapped.correlation_id.get_or_insert_with(correlation_id);
        let retry = mapped
            .retry_provider
            .unwrap_or(self.settings.retry_provider_default);
        match self.send_row(&mut row, correlation, retry).await {
            Ok((reply, attempts, changes)) => {
                Some(finish(row, correlation, reply, attempts, changes))
            }
            Err(early) => early.outcome(row, correlation),
        }
    }

    /// The row's calls: a keyed row's lookup, the GET and merge (merge, plan), the undo line,
    /// the PATCH. The PATCH's reply, or how the row ended before it.
    async fn send_row(
        &self,
        row: &mut Row,
        correlation: Uuid,
        retry: bool,
    ) -> Result<(Reply, u32, Vec<Change>), Early> {
        let id = if row.mapped.as_ref().is_ok_and(|m| m.keyed) {
            let id = self.find_by_reference(row, correlation).await?;
            if let Ok(m) = &mut row.mapped {
                m.customer_id = id;
                m.keyed = false;
            }
            id
        } else {
            customer_of(row)
        };
        let (body, changes) = match self.settings.action {
            Action::Replace => (replace_body(row, id, retry), Vec::new()),
            Action::Merge | Action::Plan => self.merged(row, id, correlation, retry).await?,
        };
        let body = body
            .map_err(|e| Early::failed(None, 0, format!("cannot build the request body: {e}")))?;
        // The way back is written out before the change is sent: a crash from here on leaves it.
        if let Some(undo) = &self.undo
            && let Err(e) = undo.before_patch(row, &changes)
        {
            self.stopper.stop(Stop::Broken(e));
            return Err(Early::Stopped);
        }
        match self
            .caller()
            .call(row.number, id, Call::Patch(body.into()), correlation)
            .await
        {
            // Stopped before the PATCH went (a merge row's GET only read): recording it as
            // failed would make `--resume` skip a row that was never sent.
            Called::NotSent => Err(Early::Stopped),
            Called::Done { reply, attempts } => Ok((reply, attempts, changes)),
        }
    }

    /// Merge and plan: the customer as the API has it (GET) with the row's cells laid over it,
    /// and the PATCH body that sends it back. The row ends here when nothing changes, when it is
    /// a plan, or when a cell that failed its check would change the customer.
    async fn merged(
        &self,
        row: &Row,
        id: Uuid,
        correlation: Uuid,
        retry: bool,
    ) -> Result<(serde_json::Result<Vec<u8>>, Vec<Change>), Early> {
        let (reply, attempts) = match self
            .caller()
            .call(row.number, id, Call::Get, correlation)
            .await
        {
            Called::NotSent => return Err(Early::Stopped),
            Called::Done { reply, attempts } => (reply, attempts),
        };
        let mut customer = match reply {
            Reply::Customer(c) => c,
            reply => return Err(Early::Failed { reply, attempts }),
        };
        same_customer(&customer, id).map_err(|e| Early::failed(Some(200), attempts, e))?;
        let changes = customer::merge(&mut customer, row.cells());
        // A cell that failed its check refuses the row only now, if it changes the customer
        // (SPEC, Modes): the first such field, as a check before the GET would.
        if let Ok(m) = &row.mapped
            && let Some((_, error)) = m
                .deferred
                .iter()
                .find(|(field, _)| changes.iter().any(|c| c.field == *field))
        {
            let error = error.clone();
            return Err(Early::Invalid { attempts, error });
        }
        let kind = match (changes.is_empty(), self.settings.action) {
            (true, _) => OutcomeKind::Unchanged,
            (false, Action::Plan) => OutcomeKind::WouldChange,
            _ => return Ok((patch_body(&customer, retry), changes)),
        };
        Err(Early::Judged {
            kind,
            attempts,
            changes,
        })
    }

    /// The customer whose internalIdentifier is exactly the row's, through the list call
    /// searched by that field. The search's matching rule is undocumented (exact? substring?
    /// case?), so every page it returns is read and each item's field compared here, as is or
    /// trimmed (the row's cell is trimmed too). One lookup a row, not an index of the tenant
    /// built up front: memory stays flat whatever the tenant's size, a nightly file of a few
    /// hundred rows costs a few hundred calls rather than a full listing, and each row sees the
    /// tenant as it is when the row runs. A full migration keyed by reference costs one call
    /// more a row than one keyed by customerId (BENCHMARKS.md's export shows the listing's pace).
    /// No match, or several, makes the row invalid; a failed call or an unusable page fails it.
    async fn find_by_reference(&self, row: &Row, correlation: Uuid) -> Result<Uuid, Early> {
        /// Pages read at most for one reference: a search that matches more than this many
        /// customers (by its own rule) is not a lookup of one.
        const MAX_PAGES: u64 = 25;
        let reference = match row.cell(Field::InternalIdentifier) {
            Cell::Set(r) => r,
            _ => "",
        };
        let mut ids: Vec<Uuid> = Vec::new();
        let mut attempts = 0;
        for number in 1..=MAX_PAGES {
            let query = crate::list::query(number, Some(("InternalIdentifier", reference)), None);
            let body = match self
                .caller()
                .call(row.number, Uuid::nil(), Call::List(query), correlation)
                .await
            {
                Called::NotSent => return Err(Early::Stopped),
                Called::Done { reply, attempts: a } => {
                    attempts += a;
                    match reply {
                        Reply::Page(body) => body,
                        reply => return Err(Early::Failed { reply, attempts }),
                    }
                }
            };
            let page: crate::list::Page = serde_json::from_slice(&body).map_err(|e| {
                let why = format!(
                    "looking up internalIdentifier {reference:?}: the answer is not a list page ({e})"
                );
                Early::failed(Some(200), attempts, why)
            })?;
            add_matches(&page, reference, &mut ids)
                .map_err(|e| Early::failed(Some(200), attempts, e))?;
            if !page.has_next(number) || page.items.is_empty() {
                return the_one(&ids, reference)
                    .map_err(|error| Early::Invalid { attempts, error });
            }
        }
        let why = format!(
            "looking up internalIdentifier {reference:?}: the search matched more than {MAX_PAGES} pages of customers"
        );
        Err(Early::failed(Some(200), attempts, why))
    }
}

/// How a row ended before its PATCH was sent.
enum Early {
    /// The run stopped before the row changed anything: not recorded (`--resume` sends it).
    Stopped,
    /// A call failed, or its answer could not be used: the row fails with this reply.
    Failed { reply: Reply, attempts: u32 },
    /// The API answered (200), but the row cannot go on: it is invalid, for this reason.
    Invalid { attempts: u32, error: String },
    /// The GET showed the outcome: nothing to change, or what a plan would change.
    Judged {
        kind: OutcomeKind,
        attempts: u32,
        changes: Vec<Change>,
    },
}

impl Early {
    /// A failure with this status and text.
    fn failed(status: Option<u16>, attempts: u32, error: String) -> Early {
        Early::Failed {
            reply: Reply::Fail { status, error },
            attempts,
        }
    }

    /// The row's outcome; `None` if it is not recorded.
    fn outcome(self, row: Row, correlation: Uuid) -> Option<Outcome> {
        let (kind, attempts, error, changes) = match self {
            Early::Stopped => return None,
            Early::Failed { reply, attempts } => {
                return Some(finish(row, correlation, reply, attempts, Vec::new()));
            }
            Early::Invalid { attempts, error } => {
                (OutcomeKind::Invalid, attempts, error, Vec::new())
            }
            Early::Judged {
                kind,
                attempts,
                changes,
            } => (kind, attempts, String::new(), changes),
        };
        Some(Outcome {
            kind,
            http_status: Some(200),
            attempts,
            correlation_id: Some(correlation),
            error,
            changes,
            ..Outcome::new(row)
        })
    }
}

/// Adds to `ids` each customer on `page` whose internalIdentifier is `reference`, as is or
/// trimmed. A match without a usable id is an error: the row cannot be sent to it.
fn add_matches(
    page: &crate::list::Page,
    reference: &str,
    ids: &mut Vec<Uuid>,
) -> Result<(), String> {
    for item in &page.items {
        let theirs = item.fields[Field::InternalIdentifier.index()].as_deref();
        if !theirs.is_some_and(|v| v == reference || v.trim() == reference) {
            continue;
        }
        match item.id.as_deref().map(|s| Uuid::try_parse(s.trim())) {
            Some(Ok(id)) if !ids.contains(&id) => ids.push(id),
            Some(Ok(_)) => {}
            _ => {
                return Err(format!(
                    "the list call gave a customer with internalIdentifier {reference:?} but no usable id"
                ));
            }
        }
    }
    Ok(())
}

/// The one customer found for `reference`; none or several is the row's error.
fn the_one(ids: &[Uuid], reference: &str) -> Result<Uuid, String> {
    match ids {
        [id] => Ok(*id),
        [] => Err(format!("no customer has internalIdentifier {reference:?}")),
        several => {
            let mut shown: Vec<String> = several.iter().take(3).map(Uuid::to_string).collect();
            if several.len() > 3 {
                shown.push("…".into());
            }
            Err(format!(
                "ambiguous: {} customers have internalIdentifier {reference:?} ({}); name the row's customer by customerId instead",
                several.len(),
                shown.join(", ")
            ))
        }
    }
}

/// The customer a GET returned must be the one asked for: merge sends its `id` back, and a
/// server that answered with another customer would have that one overwritten. Compared as
/// GUIDs (case and braces aside); a customer without an id has nothing to send back wrong.
fn same_customer(
    customer: &serde_json::Map<String, serde_json::Value>,
    id: Uuid,
) -> Result<(), String> {
    let Some(got) = customer.get("id").filter(|v| !v.is_null()) else {
        return Ok(());
    };
    match got.as_str().and_then(|s| Uuid::try_parse(s.trim()).ok()) {
        Some(g) if g == id => Ok(()),
        _ => {
            let shown: String = got.to_string().chars().take(60).collect();
            Err(format!(
                "GET {id} answered with customer id {shown}: a fault of the server; nothing was sent for this row"
            ))
        }
    }
}

/// A fresh version-4 correlation id. From fastrand, not the OS: `Uuid::new_v4` made one
/// getrandom system call per row (BENCHMARKS.md), and a correlation id needs to be unique, not
/// unguessable.
fn correlation_id() -> Uuid {
    uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes()).into_uuid()
}

/// The PATCH body, `{"customer":{..},"retryFailedProviderCustomersFromCompanyInfo":b}`,
/// serialized straight from the customer (no intermediate `Value`).
fn patch_body(customer: &impl Serialize, retry: bool) -> serde_json::Result<Vec<u8>> {
    #[derive(Serialize)]
    struct Body<'a, C> {
        customer: &'a C,
        #[serde(rename = "retryFailedProviderCustomersFromCompanyInfo")]
        retry: bool,
    }
    let mut out = Vec::with_capacity(512);
    serde_json::to_writer(&mut out, &Body { customer, retry })?;
    Ok(out)
}

/// The replace-mode PATCH body: the id and every cell the row sets (a string) or clears (null),
/// in field order, serialized straight from the row's cells.
fn replace_body(row: &Row, id: Uuid, retry: bool) -> serde_json::Result<Vec<u8>> {
    struct Cells<'a>(&'a Row, Uuid);
    impl Serialize for Cells<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut map = s.serialize_map(None)?;
            let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
            map.serialize_entry("id", self.1.hyphenated().encode_lower(&mut buf))?;
            for (field, cell) in self.0.cells() {
                match cell {
                    Cell::Keep => {}
                    Cell::Clear => map.serialize_entry(field.wire(), &())?,
                    Cell::Set(v) => map.serialize_entry(field.wire(), v)?,
                }
            }
            map.end()
        }
    }
    patch_body(&Cells(row, id), retry)
}

fn finish(
    row: Row,
    correlation: Uuid,
    reply: Reply,
    attempts: u32,
    changes: Vec<Change>,
) -> Outcome {
    let (kind, status, error) = match reply {
        Reply::Accepted(s) => (OutcomeKind::Accepted, Some(s), String::new()),
        Reply::Customer(_) | Reply::Page(_) => (OutcomeKind::Accepted, Some(200), String::new()),
        Reply::Fail { status, error } | Reply::Retry { status, error, .. } => {
            (OutcomeKind::Failed, status, error)
        }
        Reply::Unauthorized(error) => (OutcomeKind::Failed, Some(401), error),
    };
    Outcome {
        kind,
        http_status: status,
        attempts,
        correlation_id: Some(correlation),
        error,
        changes,
        ..Outcome::new(row)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn first_row(text: &str) -> Row {
        let mut input = crate::input::Input::from_reader(
            Box::new(std::io::Cursor::new(text.as_bytes().to_vec())),
            "t.csv",
            crate::input::InputOptions::default(),
        )
        .unwrap();
        input.next_row().unwrap().unwrap()
    }

    #[test]
    fn replace_body_is_the_row_as_json() {
        let row = first_row(
            "customerId,companyName,taxId,city,zip\n3f2504e0-4f89-11d3-9a0c-0305e82c3301,\"Fabrikam \"\"PT\"\"\",#NULL,,1000-001\n",
        );
        let id = row.mapped.as_ref().unwrap().customer_id;
        let body = replace_body(&row, id, true).unwrap();
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"customer":{"id":"3f2504e0-4f89-11d3-9a0c-0305e82c3301","companyName":"Fabrikam \"PT\"","taxId":null,"zip":"1000-001"},"retryFailedProviderCustomersFromCompanyInfo":true}"#
        );
    }

    /// A lookup by reference keeps exact and trimmed matches once each, refuses a match without
    /// a usable id, and names none or several (the first three, then "…") as the row's error.
    #[test]
    fn a_reference_finds_one_customer_or_says_why_not() {
        let id = |n: u32| format!("6a1f0c2e-1b7d-4c3a-9e55-{n:012}");
        let page: crate::list::Page = serde_json::from_value(serde_json::json!({"items": [
            {"id": id(1), "internalIdentifier": "CUST-1"},
            {"id": id(2), "internalIdentifier": " CUST-1 "},
            {"id": id(1), "internalIdentifier": "CUST-1"},
            {"id": id(3), "internalIdentifier": "cust-1"},
            {"id": id(4), "internalIdentifier": "CUST-10"},
        ]}))
        .unwrap();
        let mut ids = Vec::new();
        add_matches(&page, "CUST-1", &mut ids).unwrap();
        let want: Vec<Uuid> = [1, 2]
            .iter()
            .map(|n| Uuid::parse_str(&id(*n)).unwrap())
            .collect();
        assert_eq!(ids, want);
        assert_eq!(the_one(&ids[..1], "CUST-1"), Ok(want[0]));
        assert_eq!(
            the_one(&[], "CUST-1"),
            Err("no customer has internalIdentifier \"CUST-1\"".to_string())
        );
        let four: Vec<Uuid> = (1..=4).map(|n| Uuid::parse_str(&id(n)).unwrap()).collect();
        let several = the_one(&four, "CUST-1").unwrap_err();
        assert!(
            several.starts_with(&format!(
                "ambiguous: 4 customers have internalIdentifier \"CUST-1\" ({}, {}, {}, …);",
                four[0], four[1], four[2]
            )),
            "{several}"
        );
        let broken: crate::list::Page = serde_json::from_value(serde_json::json!({"items": [
            {"id": "not-a-guid", "internalIdentifier": "CUST-1"},
        ]}))
        .unwrap();
        assert!(add_matches(&broken, "CUST-1", &mut Vec::new()).is_err());
    }

    /// A worker that panics (a bug) loses its row's outcome: the run is told, so it ends as one
    /// stopped early (exit 3), not as a clean finish or a setup error.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_panicking_worker_is_reported_and_stops_the_run() {
        let sb = crate::sandbox::Sandbox::start(
            crate::sandbox::SandboxConfig {
                static_token: Some("t0k".into()),
                ..crate::sandbox::SandboxConfig::default()
            },
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        )
        .await
        .unwrap();
        let client = crate::http::client::build(Duration::from_secs(5), 2).unwrap();
        let d = Arc::new(Dispatcher {
            link: Link {
                api: crate::http::api::Api::new(&client, &sb.base_url(), "t.example").unwrap(),
                auth: crate::http::auth::Auth::new(
                    crate::http::auth::TokenSource::Static("t0k".into()),
                    crate::http::auth::Patience::default(),
                    &client,
                )
                .unwrap(),
                pacer: crate::pacer::Pacer::new(crate::pacer::PaceSettings {
                    rate: "unlimited".parse().unwrap(),
                    burst: std::num::NonZeroU32::MIN,
                    adapt: true,
                    reserve: 0.0,
                }),
                policy: crate::pipeline::retry::Policy {
                    max_attempts: 1,
                    backoff_base: Duration::from_millis(1),
                    max_retry_after: Duration::from_secs(300),
                },
            },
            settings: Settings {
                action: Action::Merge,
                concurrency: 2,
                retry_provider_default: false,
            },
            stopper: Stopper::default(),
            // The 404 below fails the row, and this stands in for a bug on that path.
            on_outcome: Box::new(|o| assert!(o.kind != OutcomeKind::Failed, "a bug")),
            undo: None,
        });
        let (tx, rx) = mpsc::channel(4);
        tx.send(first_row(
            "customerId,city\n6a1f0c2e-1b7d-4c3a-9e55-000000000404,Lisboa\n",
        ))
        .await
        .unwrap();
        drop(tx);
        let (out, _keep) = mpsc::channel(4);
        assert!(!d.clone().run(rx, out).await, "the panic is reported");
        assert!(matches!(d.stopper.reason(), Some(Stop::Broken(_))));
    }

    proptest::proptest! {
        /// Whatever the cells hold, the body is JSON that gives each back exactly.
        #[test]
        fn replace_body_gives_back_every_cell(
            company in "\\PC{0,30}",
            city in "[ -~\\t\u{1}\u{7f}\u{e9}\u{1F600}\"\\\\]{0,20}",
            clear_zip: bool,
            retry: bool,
        ) {
            let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
            let zip = if clear_zip { "#NULL" } else { "1000-001" };
            let row = first_row(&format!(
                "customerId,companyName,city,zip\n3f2504e0-4f89-11d3-9a0c-0305e82c3301,{},{},{zip}\n",
                quote(&company),
                quote(&city)
            ));
            proptest::prop_assume!(row.mapped.is_ok());
            let id = row.mapped.as_ref().unwrap().customer_id;
            let body: serde_json::Value =
                serde_json::from_slice(&replace_body(&row, id, retry).unwrap()).unwrap();
            let mut expected = serde_json::Map::new();
            expected.insert("id".into(), id.to_string().into());
            for (field, cell) in row.cells() {
                match cell {
                    Cell::Keep => {}
                    Cell::Clear => { expected.insert(field.wire().into(), serde_json::Value::Null); }
                    Cell::Set(v) => { expected.insert(field.wire().into(), v.into()); }
                }
            }
            proptest::prop_assert_eq!(&body["customer"], &serde_json::Value::Object(expected));
            proptest::prop_assert_eq!(&body["retryFailedProviderCustomersFromCompanyInfo"], &serde_json::Value::Bool(retry));
        }
    }
}
