//! `ccbulk export`: page through `GET /v1/Customers` and write every customer as a CSV in the
//! layout `update` reads (`customerId` then the fifteen customer fields), the start of a
//! migration: export → edit in a spreadsheet → plan → update → replay → undo.
//!
//! Pages go one after another through the one call of every command (`pipeline::call`), on the
//! connection every command builds from the same flags (`config::Connect`): the same token,
//! pacing, retries and `Retry-After` handling as update's GET and PATCH, and the same words
//! when no token can be had. Each page is parsed
//! into just the sixteen columns (everything else in an item is skipped unparsed) and written at
//! once, so memory holds one page, whatever the tenant's size. The file is written to a
//! temporary file beside the output and renamed over it only when the last page is in
//! (`output.rs`): an interrupted or failed export leaves no half file that could pass for a
//! whole one.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use uuid::Uuid;

use crate::cli::{ExportArgs, SearchField};
use crate::config::{Connect, Connected, SetupError, no_token};
use crate::exit;
use crate::http::api::Reply;
use crate::list::{self, Page};
use crate::outcome::{Counters, Tally};
use crate::pipeline::call::{Call, Called, Caller};
use crate::progress::Progress;
use crate::report::{self, Summary};
use crate::stop::{Stop, Stopper};

mod output;
use output::{Output, Sink, check_target};

/// The export's settings, checked.
struct Settings {
    output: Output,
    overwrite: bool,
    search: Option<(SearchField, String)>,
    reseller: Option<Uuid>,
    connect: Connect,
    args: ExportArgs,
}

impl Settings {
    fn from_args(args: ExportArgs) -> Result<Settings, SetupError> {
        let connect = Connect::from_args(&args.conn, !args.conn.sandbox)?;
        let output = match args.output.as_str() {
            "-" => Output::Stdout,
            p => Output::File(PathBuf::from(p)),
        };
        if matches!(output, Output::Stdout)
            && args.report.summary_json.as_deref() == Some(Path::new("-"))
        {
            return Err(SetupError(
                "--output - and --summary-json - would both write to standard output: send one of them to a file".into(),
            ));
        }
        let search = match (&args.search_field, &args.search_value) {
            (Some(f), Some(v)) if !v.trim().is_empty() => Some((*f, v.trim().to_string())),
            (Some(_), _) => {
                return Err(SetupError(
                    "--search-value is empty: give the value to search for".into(),
                ));
            }
            _ => None,
        };
        Ok(Settings {
            output,
            overwrite: args.overwrite,
            search,
            reseller: args.reseller_id,
            connect,
            args,
        })
    }

    fn output_name(&self) -> String {
        self.output.name()
    }

    /// How the summary names what was exported.
    fn source(&self) -> String {
        let mut s = "GET /v1/Customers".to_string();
        if let Some((f, v)) = &self.search {
            s.push_str(&format!(" ({} matching {v:?})", f.wire()));
        }
        if let Some(r) = self.reseller {
            s.push_str(&format!(" (reseller {r})"));
        }
        s
    }
}

/// Customers already written, to write each once when the tenant changes while it is paged.
///
/// Pages are offsets into a list that may move under us. A customer added before the current
/// offset pushes the rest one place on, so the last item of one page comes again as the first of
/// the next; k additions repeat the last k. Remembering the ids of the page before and of the
/// current one therefore catches every repeat from up to a whole page (2,000 customers) of
/// additions between two calls, and a page that repeats itself: far more than a tenant changes
/// in the second between two pages. Memory stays at two pages of ids (~100 KB) however many
/// customers there are, where remembering every id would grow with the tenant. (A customer
/// removed meanwhile pulls the rest back one place, so one customer can be missed: no paging
/// can see that; the summary's count against the API's totalCount shows it.)
#[derive(Default)]
struct Seen {
    previous: HashSet<Uuid>,
    current: HashSet<Uuid>,
}

impl Seen {
    /// True the first time `id` is seen within the last two pages.
    fn first_time(&mut self, id: Uuid) -> bool {
        !self.previous.contains(&id) && self.current.insert(id)
    }

    /// The current page is done: it becomes the previous one.
    fn next_page(&mut self) {
        self.previous = std::mem::take(&mut self.current);
    }
}

/// How the paging ended.
enum End {
    Complete,
    Stopped(String),
    Interrupted,
}

/// `ccbulk export`, from arguments to exit code: setup (nothing sent until the output path is
/// known to be usable), the token, the pages, then the file renamed into place and the summary.
pub async fn run(args: ExportArgs) -> anyhow::Result<i32> {
    let started_wall = SystemTime::now();
    let started = Instant::now();
    // From the start: a signal during setup (a slow token endpoint) must not kill the export
    // silently.
    let mut signals = crate::signals::Signals::new();
    let mut settings = Settings::from_args(args)?;
    let sandbox = match settings.args.conn.sandbox {
        true => Some(crate::cmd::sandbox::stand_in(&mut settings.connect).await?),
        false => None,
    };
    let a = &settings.args;
    // Before the first call: a bad output or summary path is a setup error with nothing sent.
    if let Output::File(target) = &settings.output {
        check_target(target, settings.overwrite)?;
    }
    report::check_json_path(a.report.summary_json.as_deref()).map_err(SetupError)?;
    let connecting = crate::signals::unless_interrupted(&mut signals, settings.connect.open(1));
    let Some(connected) = connecting.await else {
        return Ok(exit::INTERRUPTED);
    };
    let link = match connected? {
        Connected::Online(link) => Arc::new(*link),
        Connected::Refused(e) => return Ok(refused(&settings, &e, started_wall, started)),
    };
    let mut sink = Sink::open(&settings.output, settings.overwrite)?;
    if let Some(sb) = &sandbox
        && !a.report.quiet
    {
        eprintln!("{}", crate::cmd::sandbox::banner(sb));
    }

    let stopper = Stopper::default();
    let counters = Arc::new(Counters::default());
    let signals = crate::signals::spawn_signal_handler(
        signals,
        stopper.clone(),
        a.report.quiet,
        Box::new(|| {}),
    );
    // Calls counted as update counts them: a page is 2,000 rows, so rows/s alone would hide a
    // page being retried.
    let calls = {
        let link = link.clone();
        Box::new(move || link.pacer.stats()) as crate::progress::CallStats
    };
    let progress = Progress::start(
        counters.clone(),
        Some(calls),
        a.report.quiet,
        Duration::from_secs(5),
    );
    let caller = link.caller(&stopper);
    let paged = export_pages(&caller, &mut sink, &settings, &counters).await;
    let end = match paged.end {
        End::Complete => match sink.finish(settings.overwrite) {
            Ok(()) => End::Complete,
            Err(e) => End::Stopped(format!("cannot write {}: {e}", settings.output_name())),
        },
        // Dropping the sink deletes the temporary file: no partial export is left.
        other => other,
    };
    progress.finish().await;
    signals.abort();

    let summary = summary(
        &settings,
        started_wall,
        started,
        paged.written,
        report::CallCounts::new(&link.pacer.stats()),
    );
    Ok(conclude(&settings, summary, end, &stopper, paged.total))
}

/// The token was refused before the first page: says so (stderr, and `--summary-json`) as
/// update does; returns the exit code.
fn refused(
    settings: &Settings,
    e: &crate::http::auth::AuthError,
    started_wall: SystemTime,
    started: Instant,
) -> i32 {
    let why = no_token(e, &settings.connect.token, "nothing was sent");
    eprintln!("ccbulk: {why}");
    let mut summary = summary(
        settings,
        started_wall,
        started,
        0,
        report::CallCounts::default(),
    );
    summary.exit_code = exit::STOPPED;
    summary.stopped = Some(why);
    summary.save_json(settings.args.report.summary_json.as_deref());
    exit::STOPPED
}

/// Says how the export ended (stderr, and `--summary-json`); returns the exit code.
fn conclude(
    settings: &Settings,
    mut summary: Summary,
    end: End,
    stopper: &Stopper,
    total: Option<u64>,
) -> i32 {
    let code = match &end {
        End::Complete => exit::OK,
        End::Stopped(_) => exit::STOPPED,
        End::Interrupted => exit::INTERRUPTED,
    };
    summary.exit_code = code;
    summary.stopped = why_stopped(end, stopper, settings);
    if let Some(Stop::AuthRefused(_) | Stop::TokenEndpoint(_)) = stopper.reason() {
        summary.exit_code = exit::STOPPED;
    }
    let mut text = summary.render();
    let written = summary.rows;
    if code == exit::OK
        && let Some(t) = total
        && t != written
    {
        text.push_str(&format!(
            "  the API counted {t} customers and {written} were written: the tenant changed while it was paged, or the count is approximate\n"
        ));
    }
    eprint!("{text}");
    summary.save_json(settings.args.report.summary_json.as_deref());
    summary.exit_code
}

/// What the paging did.
struct Paged {
    end: End,
    /// Customers written.
    written: u64,
    /// The API's totalCount, from the last page that gave one.
    total: Option<u64>,
}

/// Pages through the list, writing each customer once, until the last page, a failure or a
/// stop.
async fn export_pages(
    caller: &Caller<'_>,
    sink: &mut Sink,
    settings: &Settings,
    counters: &Counters,
) -> Paged {
    let mut seen = Seen::default();
    let mut written = 0u64;
    let mut total = None;
    let mut number = 1u64;
    let end = loop {
        let (page, attempts) = match fetch_page(caller, number, settings).await {
            Ok(got) => got,
            Err(end) => break end,
        };
        if let Some(t) = page.total_count {
            total = Some(t);
            counters.total.store(t, Ordering::Relaxed);
        }
        let fresh = match write_page(&page, &mut seen, sink, counters, &mut written) {
            Ok(fresh) => fresh,
            Err(e) => break End::Stopped(format!("cannot write {}: {e}", settings.output_name())),
        };
        tracing::info!(
            page = number,
            items = page.items.len(),
            new = fresh,
            attempts,
            "page"
        );
        seen.next_page();
        if !page.has_next(number) || page.items.is_empty() {
            break End::Complete;
        }
        if fresh == 0 {
            break End::Stopped(format!(
                "page {number} held only customers already written: the API seems to serve the same page again, so the export stops rather than loop"
            ));
        }
        if caller.stopper.is_stopped() {
            break End::Interrupted;
        }
        number += 1;
    };
    Paged {
        end,
        written,
        total,
    }
}

/// Page `number`, parsed, and the attempts it took; or how the paging ends.
async fn fetch_page(
    caller: &Caller<'_>,
    number: u64,
    settings: &Settings,
) -> Result<(Page, u32), End> {
    let search = settings
        .search
        .as_ref()
        .map(|(f, v)| (f.wire(), v.as_str()));
    let q = list::query(number, search, settings.reseller);
    let correlation = Uuid::new_v4();
    let called = caller
        .call(0, Uuid::nil(), Call::List(q), correlation)
        .await;
    let (body, attempts) = match called {
        Called::NotSent => return Err(End::Interrupted),
        Called::Done {
            reply: Reply::Page(body),
            attempts,
        } => (body, attempts),
        Called::Done {
            reply: other,
            attempts,
        } => {
            let error = match other {
                Reply::Fail { error, .. }
                | Reply::Retry { error, .. }
                | Reply::Unauthorized(error) => error,
                _ => "an answer that is not a page".into(),
            };
            return Err(match caller.stopper.reason() {
                Some(Stop::Interrupted) => End::Interrupted,
                _ => End::Stopped(format!(
                    "page {number} could not be read: {error} ({attempts} {}, correlation id {correlation})",
                    if attempts == 1 { "attempt" } else { "attempts" }
                )),
            });
        }
    };
    match serde_json::from_slice(&body) {
        Ok(page) => Ok((page, attempts)),
        Err(e) => Err(End::Stopped(format!(
            "page {number}: the answer is not a list page ({e}; correlation id {correlation})"
        ))),
    }
}

/// Writes the page's customers not written before; returns how many it wrote (or tried to).
fn write_page(
    page: &Page,
    seen: &mut Seen,
    sink: &mut Sink,
    counters: &Counters,
    written: &mut u64,
) -> csv::Result<usize> {
    let mut fresh = 0usize;
    for item in &page.items {
        let id = item
            .id
            .as_deref()
            .and_then(|s| Uuid::try_parse(s.trim()).ok());
        // An item without a usable id cannot be told apart from another: written as it is
        // (update will call its row invalid, naming the cell).
        if let Some(id) = id
            && !seen.first_time(id)
        {
            continue;
        }
        fresh += 1;
        sink.write(item)?;
        *written += 1;
        counters.done.fetch_add(1, Ordering::Relaxed);
    }
    Ok(fresh)
}

/// The summary's `stopped`: why nothing was written, or `None` for a complete export.
fn why_stopped(end: End, stopper: &Stopper, settings: &Settings) -> Option<String> {
    match end {
        End::Complete => None,
        End::Stopped(why) => Some(format!(
            "{why}; nothing was written to {}",
            settings.output_name()
        )),
        End::Interrupted => Some(
            stopper
                .reason()
                .and_then(|stop| settings.connect.stop_message(&stop, "nothing was written"))
                .unwrap_or_else(|| "interrupted; nothing was written".into()),
        ),
    }
}

fn summary(
    settings: &Settings,
    started_wall: SystemTime,
    started: Instant,
    written: u64,
    calls: report::CallCounts,
) -> Summary {
    let elapsed = started.elapsed();
    let output = PathBuf::from(settings.output_name());
    let mut s = Summary::new(
        "export",
        &settings.source(),
        &output,
        started_wall,
        elapsed,
        &Tally::default(),
        calls,
        0,
    );
    s.rows = written;
    s.rows_per_second = report::rows_per_second(written, elapsed);
    if written > 0 {
        s.outcomes.insert("exported".into(), written);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customer::Field;

    #[test]
    fn items_are_read_tolerantly() {
        let page: Page = serde_json::from_str(
            r#"{"items":[
                {"id":"3f2504e0-4f89-11d3-9a0c-0305e82c3301","companyName":"Contoso","zip":1234,
                 "providerCustomers":{"x":{"deep":[1,2,{"a":null}]}},"newField":true,
                 "middleName":null,"phone":{"odd":1},"Email":"a@b.pt"},
                {"companyName":"no id"}],
               "totalCount":7,"hasNextPage":false,"continuationToken":null}"#,
        )
        .unwrap();
        assert_eq!(page.items.len(), 2);
        let a = &page.items[0];
        assert_eq!(
            a.id.as_deref(),
            Some("3f2504e0-4f89-11d3-9a0c-0305e82c3301")
        );
        assert_eq!(
            a.fields[Field::CompanyName.index()].as_deref(),
            Some("Contoso")
        );
        assert_eq!(a.fields[Field::Zip.index()].as_deref(), Some("1234"));
        assert_eq!(a.fields[Field::MiddleName.index()], None);
        assert_eq!(a.fields[Field::Phone.index()], None);
        assert_eq!(a.fields[Field::Email.index()].as_deref(), Some("a@b.pt"));
        assert_eq!(a.fields[Field::City.index()], None, "missing is empty");
        assert_eq!(page.items[1].id, None);
        assert_eq!(page.total_count, Some(7));
        assert!(!page.has_next(1));
        assert!(serde_json::from_str::<Page>(r#"{"totalCount":1}"#).is_err());
    }

    #[test]
    fn next_page_falls_back_to_total_pages_then_a_full_page() {
        let page = |json: &str| serde_json::from_str::<Page>(json).unwrap();
        assert!(page(r#"{"items":[],"totalPages":3}"#).has_next(2));
        assert!(!page(r#"{"items":[],"totalPages":3}"#).has_next(3));
        assert!(!page(r#"{"items":[{}]}"#).has_next(1));
        let full = format!(r#"{{"items":[{}]}}"#, vec!["{}"; list::PAGE_SIZE].join(","));
        assert!(page(&full).has_next(1));
    }

    #[test]
    fn seen_remembers_two_pages() {
        let ids: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
        let mut seen = Seen::default();
        assert!(seen.first_time(ids[0]) && seen.first_time(ids[1]));
        assert!(!seen.first_time(ids[1]), "twice on one page");
        seen.next_page();
        assert!(!seen.first_time(ids[1]), "again on the next page");
        assert!(seen.first_time(ids[2]));
        seen.next_page();
        seen.next_page();
        assert!(
            seen.first_time(ids[1]),
            "forgotten two pages on: memory is bounded"
        );
    }

    #[test]
    fn queries_are_encoded() {
        let q = list::query(
            3,
            Some((SearchField::CompanyName.wire(), "Contoso & Sons+Lda")),
            Some(Uuid::nil()),
        );
        assert_eq!(
            q,
            "pageNumber=3&pageSize=2000&searchField=Company.Name&searchValue=Contoso+%26+Sons%2BLda&resellerId=00000000-0000-0000-0000-000000000000"
        );
        let back: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(back[3].1, "Contoso & Sons+Lda");
    }
}
