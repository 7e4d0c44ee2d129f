//! The CUR commands of the local mode: `import`, `ingest`, `report attribution`,
//! `report reconcile` and `gen-cur`.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cur_files::generate::{import_fixture, write_parquet, Spec};
use cur_files::{read_path_with_progress, Progress, ReadError};
use domain::cur::facts::Facts;
use domain::governance::import::ImportDoc;
use domain::{Actor, BillingPeriod, Persona, UserId};
use serde::Serialize;
use services::governance::{GovernanceError, SourceFacts};

use crate::config::Config;
use crate::cli::{Format, ReportCmd, View};
use crate::local;
use crate::output::{table, Cell, Grid};

#[derive(Debug, thiserror::Error)]
pub enum CurError {
    #[error("{0}")]
    Local(#[from] local::LocalError),
    #[error("{path}: {source}")]
    Read { path: String, source: ReadError },
    #[error("{path}: {reason}")]
    Input { path: String, reason: String },
    #[error("{0}")]
    Governance(#[from] GovernanceError),
}

impl CurError {
    /// 2 for input or configuration the user must fix (a bad file, a store
    /// another `finops` holds, a missing setting), 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        use services::ports::StoreError;
        match self {
            CurError::Read { .. } | CurError::Input { .. } => 2,
            CurError::Local(local::LocalError::Store(StoreError::NotConfigured { .. })) => 2,
            CurError::Local(local::LocalError::Secret { .. } | local::LocalError::Setup(_)) => 2,
            CurError::Governance(g) if g.status() == 400 || g.status() == 409 => 2,
            _ => 1,
        }
    }
}

/// The local operator: the person at the terminal acts as FinOps Lead (they
/// hold the embedded store's file, so they hold every permission anyway).
pub fn operator() -> Actor {
    let name = std::env::var("FINOPS_USER").or_else(|_| std::env::var("USER")).unwrap_or_else(|_| "local-operator".into());
    let user = UserId::parse(&name).or_else(|_| UserId::parse("local-operator")).expect("a constant user id is valid");
    Actor::new(user, Persona::FinOpsLead, Vec::new())
}

fn json<T: Serialize>(v: &T) -> String {
    format!("{}\n", serde_json::to_string_pretty(v).unwrap_or_default())
}

pub async fn import(config: &Config, file: &Path, format: Format) -> Result<String, CurError> {
    let input = |reason: String| CurError::Input { path: file.display().to_string(), reason };
    let text = std::fs::read_to_string(file).map_err(|e| input(e.to_string()))?;
    let de = &mut serde_json::Deserializer::from_str(&text);
    let doc: ImportDoc = serde_path_to_error::deserialize(de).map_err(|e| input(format!("{}: {}", e.path(), e.inner())))?;
    let gov = local::governance_for(config).await?;
    let s = gov.import(&operator(), doc).await?;
    Ok(match format {
        Format::Json | Format::Csv => json(&s),
        Format::Table => format!(
            "imported {} hierarchy nodes, {} workloads, {} approvals, {} claims{}\n",
            s.nodes,
            s.workloads,
            s.approvals,
            s.claims,
            s.broad_role_patterns.map(|n| format!(", {n} broad-role patterns")).unwrap_or_default()
        ),
    })
}

/// Every CUR file under the given paths: files as given, folders walked for
/// `.parquet`, `.csv` and `.csv.gz` (Data Exports also writes manifests, which
/// are skipped).
/// CUR data files and Data Exports manifests (`…/metadata/BILLING_PERIOD=…/…Manifest.json`)
/// under the given files and folders.
fn cur_files(paths: &[PathBuf]) -> Result<(Vec<PathBuf>, Vec<PathBuf>), CurError> {
    let (mut out, mut manifests) = (Vec::new(), Vec::new());
    let mut stack: Vec<PathBuf> = paths.iter().rev().cloned().collect();
    while let Some(p) = stack.pop() {
        let meta = std::fs::metadata(&p).map_err(|e| CurError::Input { path: p.display().to_string(), reason: e.to_string() })?;
        if meta.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(&p)
                .and_then(|d| d.map(|e| e.map(|e| e.path())).collect())
                .map_err(|e| CurError::Input { path: p.display().to_string(), reason: e.to_string() })?;
            entries.sort();
            for e in entries.into_iter().rev() {
                let name = e.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
                if e.is_dir() || name.ends_with(".parquet") || name.ends_with(".csv") || name.ends_with(".csv.gz") {
                    stack.push(e);
                } else if domain::cur::delivery::is_manifest_key(&name) && e.to_string_lossy().contains("metadata") {
                    manifests.push(e);
                }
            }
        } else if domain::cur::delivery::is_manifest_key(&p.to_string_lossy()) {
            manifests.push(p);
        } else {
            out.push(p);
        }
    }
    Ok((out, manifests))
}

/// A downloaded Data Export as the CUR source of its deliveries: a manifest's
/// `s3://bucket/…/<export>/data/BILLING_PERIOD=…/<file>` is
/// `<root>/<export>/data/BILLING_PERIOD=…/<file>` here; a file's version is
/// its size and modification time.
struct LocalExport {
    root: PathBuf,
    threads: usize,
}

impl LocalExport {
    fn path(&self, location: &str) -> PathBuf {
        let key = domain::cur::source::s3_key(location);
        self.root.join(domain::cur::source::source_identity(key, key))
    }
}

#[async_trait::async_trait]
impl services::ports::cur::CurSource for LocalExport {
    async fn version(&self, location: &str) -> Result<Option<String>, services::ports::cur::CurSourceError> {
        let path = self.path(location);
        match std::fs::metadata(&path) {
            Ok(m) => {
                let at = m.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
                Ok(Some(format!("{}-{at}", m.len())))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(services::ports::cur::CurSourceError::Unavailable { location: path.display().to_string(), reason: e.to_string() }),
        }
    }

    async fn read(&self, location: &str) -> Result<services::ports::cur::CurRead, services::ports::cur::CurSourceError> {
        let path = self.path(location);
        let threads = self.threads;
        let shown = path.display().to_string();
        let read = tokio::task::spawn_blocking(move || read_path_with_progress(&path, threads, &Progress::default())).await;
        match read {
            Ok(Ok((facts, stats))) => Ok(services::ports::cur::CurRead { facts, rows: stats.rows, principal_column: stats.principal_column }),
            Ok(Err(e)) => Err(services::ports::cur::CurSourceError::Unreadable { location: shown, reason: e.to_string() }),
            Err(e) => Err(services::ports::cur::CurSourceError::Unavailable { location: shown, reason: format!("reader stopped: {e}") }),
        }
    }
}

/// Ingests one downloaded delivery through its manifest; returns what it did
/// per file, and the data folder it governs (every file there is the
/// manifest's to list or leave out).
async fn ingest_manifest(gov: &services::governance::Governance, manifest: &Path, threads: usize) -> Result<(Vec<Ingested>, Vec<PathBuf>), CurError> {
    let shown = manifest.display().to_string();
    let text = std::fs::read_to_string(manifest).map_err(|e| CurError::Input { path: shown.clone(), reason: e.to_string() })?;
    let d = domain::cur::delivery::Delivery::parse(&text).map_err(|e| CurError::Input { path: shown.clone(), reason: e.to_string() })?;
    // <root>/<export>/metadata/BILLING_PERIOD=…/<export>-Manifest.json
    let export_dir = manifest.parent().and_then(Path::parent).and_then(Path::parent).filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy() == d.export));
    let export_dir = export_dir.ok_or_else(|| CurError::Input { path: shown.clone(), reason: format!("is not in <folder>/{}/metadata/BILLING_PERIOD=…/, where its export's data is", d.export) })?;
    let root = export_dir.parent().map(Path::to_path_buf).unwrap_or_default();
    let src = LocalExport { root, threads };
    let started = Instant::now();
    let summary = gov.ingest_delivery(&src, &d).await?;
    let sources = gov.all_period_sources(d.period).await?;
    let facts_of = |id: &str| sources.iter().find(|m| m.source == id).map_or((0, 0), |m| (m.rows, m.ai_facts as usize));
    let mut done = Vec::new();
    let folder = export_dir.join("data").join(format!("BILLING_PERIOD={}", d.period));
    let covered = vec![std::fs::canonicalize(&folder).unwrap_or(folder)];
    for f in &d.files {
        let path = src.path(f);
        let id = domain::cur::source::source_identity(&path.to_string_lossy(), f);
        let stored = if summary.duplicate {
            "unchanged".to_owned()
        } else if summary.missing.contains(&id) {
            "missing".to_owned()
        } else {
            summary.stored.iter().find(|(s, _)| *s == id).map_or_else(|| "unchanged".to_owned(), |(_, st)| format!("{st:?}").to_lowercase())
        };
        let (rows, ai_facts) = facts_of(&id);
        done.push(Ingested { file: path.display().to_string(), period: d.period, rows, ai_facts, stored, seconds: started.elapsed().as_secs_f64() });
    }
    for r in &summary.retired {
        done.push(Ingested { file: r.clone(), period: d.period, rows: 0, ai_facts: 0, stored: "retired".into(), seconds: started.elapsed().as_secs_f64() });
    }
    Ok((done, covered))
}

/// The billing period of a CUR object: the Data Exports path says it
/// (`BILLING_PERIOD=2026-03`); otherwise `--period`; otherwise the usage days
/// of its AI rows, when they fall in one month.
fn period_of(path: &Path, given: Option<BillingPeriod>, facts: &Facts) -> Result<BillingPeriod, String> {
    let from_path = path.parent().into_iter().flat_map(|p| p.iter()).filter_map(|c| c.to_str()?.strip_prefix("BILLING_PERIOD=")).next_back();
    if let Some(p) = from_path {
        return BillingPeriod::parse(p).map_err(|e| e.to_string());
    }
    if let Some(p) = given {
        return Ok(p);
    }
    let periods: std::collections::BTreeSet<BillingPeriod> = facts.iter().map(|(k, _)| BillingPeriod::of(k.usage_day)).collect();
    let mut months = periods.iter();
    match (months.next(), months.next()) {
        (Some(p), None) => Ok(*p),
        (None, _) => Err("has no AI rows to tell its billing period from; pass --period YYYY-MM".into()),
        _ => Err(format!("spans billing periods {periods:?}; pass --period YYYY-MM")),
    }
}

#[derive(Debug, Serialize)]
struct Ingested {
    file: String,
    period: BillingPeriod,
    rows: u64,
    ai_facts: usize,
    /// new, replaced, unchanged; for a delivery also missing and retired.
    stored: String,
    seconds: f64,
}

/// A progress bar on a terminal (indicatif draws nothing when stderr is
/// piped), fed from the reader's counters by a small ticker thread. The
/// ticker waits on a channel between ticks, not in a sleep: the ingest
/// joins it when the read ends, and a sleep made that join wait out the
/// rest of a tick, 50 ms on average of nothing.
struct Ticker {
    stop: std::sync::mpsc::Sender<()>,
    handle: std::thread::JoinHandle<()>,
}

impl Ticker {
    fn start(progress: &std::sync::Arc<Progress>, what: &str) -> Self {
        let bar = indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        bar.set_style(
            indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {percent:>3}%  {human_pos} rows  {per_sec}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(what.to_owned());
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let p = progress.clone();
        let handle = std::thread::spawn(move || {
            // Ticks until `finish` closes the channel.
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(Duration::from_millis(100)) {
                let total = p.total.load(Ordering::Relaxed);
                if total > 0 {
                    bar.set_length(total);
                }
                bar.set_position(p.rows.load(Ordering::Relaxed));
            }
            bar.finish_and_clear();
        });
        Self { stop, handle }
    }

    fn finish(self) {
        let Ticker { stop, handle } = self;
        // Closing the channel ends the ticker's wait at once.
        drop(stop);
        if handle.join().is_err() {
            tracing::warn!("the progress bar's thread panicked; the ingest itself is unaffected");
        }
    }
}

pub async fn ingest(config: &Config, paths: &[PathBuf], period: Option<&str>, threads: usize, format: Format) -> Result<String, CurError> {
    let given = period.map(BillingPeriod::parse).transpose().map_err(|e| CurError::Input { path: "--period".into(), reason: e.to_string() })?;
    let (files, manifests) = cur_files(paths)?;
    if files.is_empty() && manifests.is_empty() {
        return Err(CurError::Input { path: paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" "), reason: "no CUR files (.parquet, .csv, .csv.gz) found".into() });
    }
    let gov = local::governance_for(config).await?;
    let mut done = Vec::new();
    // Deliveries first: a downloaded export's manifest says which of its
    // files count; the files it covers are not ingested again one by one.
    let mut covered = Vec::new();
    for m in &manifests {
        let (d, c) = ingest_manifest(&gov, m, threads).await?;
        done.extend(d);
        covered.extend(c);
    }
    let count = files.len();
    for (n, file) in files.into_iter().enumerate() {
        let canonical = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
        if covered.iter().any(|folder| canonical.starts_with(folder)) {
            continue;
        }
        let started = Instant::now();
        let progress = std::sync::Arc::new(Progress::default());
        let ticker = Ticker::start(&progress, &file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        let read = {
            let (f, p) = (file.clone(), progress.clone());
            tokio::task::spawn_blocking(move || read_path_with_progress(&f, threads, &p)).await
        };
        ticker.finish();
        let path = file.display().to_string();
        let (facts, stats) = match read {
            Ok(r) => r.map_err(|source| CurError::Read { path: path.clone(), source })?,
            Err(e) => return Err(CurError::Input { path, reason: format!("reader stopped: {e}") }),
        };
        crate::memory::release_freed();
        let period = period_of(&file, given, &facts).map_err(|reason| CurError::Input { path: path.clone(), reason })?;
        // Known by its Data Exports key, else its name: never by where this
        // machine keeps it, so the same file from two folders is one source.
        let absolute = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.clone());
        let source = domain::cur::source::source_identity(&absolute.to_string_lossy().replace('\\', "/"), &name);
        let stored = gov.store_source(SourceFacts { period, source: &source, facts: &facts, rows: stats.rows, principal_column: stats.principal_column, version: None, delivery: None }).await?;
        let ai_facts = facts.len();
        // The local bus runs gap detection inside the announcement: it takes
        // these facts rather than reading the object just written back. The
        // encoder's buffers are handed back first, so that they do not count
        // again in detection's peak.
        crate::memory::release_freed();
        gov.announce_source(period, &source, &stored, Some(facts)).await;
        // Only a file still to come gains from the sweep; after the last
        // one the process ends and hands everything back at once (the
        // sweep's `madvise` calls were a fiftieth of a large month's run).
        if n + 1 < count {
            crate::memory::release_freed();
        }
        let stored = format!("{:?}", stored.stored).to_lowercase();
        done.push(Ingested { file: path, period, rows: stats.rows, ai_facts, stored, seconds: started.elapsed().as_secs_f64() });
    }
    Ok(match format {
        Format::Json | Format::Csv => json(&done),
        Format::Table => table(
            &["FILE", "PERIOD", "ROWS", "AI FACTS", "STORED", "ROWS/S"],
            &done
                .iter()
                .map(|d| {
                    [
                        d.file.clone(),
                        d.period.to_string(),
                        d.rows.to_string(),
                        d.ai_facts.to_string(),
                        d.stored.clone(),
                        format!("{:.0}", d.rows as f64 / d.seconds.max(1e-6)),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
    })
}

/// The attribution summary as one table: the totals, then each workload and
/// each reason nobody owns spend, so the parts can be summed to the totals.
fn attribution_grid(r: &domain::cur::facts::AttributionReport) -> Grid<3> {
    let mut rows: Vec<[Cell; 3]> = [("total", r.total), ("ai_total", r.ai_total), ("attributed", r.attributed), ("unattributed", r.unattributed), ("adjustments", r.adjustments)]
        .into_iter()
        .map(|(k, m)| [k.into(), "".into(), m.into()])
        .collect();
    rows.extend(r.by_workload.iter().map(|w| ["workload".into(), w.workload.to_string().into(), w.cost.into()]));
    rows.extend(r.unattributed_by_reason.iter().map(|x| ["unattributed_reason".into(), x.reason.as_str().into(), x.cost.into()]));
    rows.extend(r.discounts.iter().map(|d| ["discount".into(), discount_key(d).into(), d.cost.into()]));
    Grid { header: ["SECTION", "KEY", "COST"], rows }
}

/// A discount share's owner and kind: `chat/EdpDiscount/111122223333`, or
/// the reason of the unowned usage it discounts.
fn discount_key(d: &domain::cur::facts::DiscountShare) -> String {
    let owner = d.workload.as_ref().map(|w| w.to_string()).or(d.reason.map(|r| r.as_str().to_owned())).unwrap_or_default();
    format!("{owner}/{}/{}", d.kind, d.account)
}

pub async fn report(config: &Config, cmd: &ReportCmd, format: Format) -> Result<String, CurError> {
    let gov = local::governance_for(config).await?;
    let actor = operator();
    let parse = |p: &str| BillingPeriod::parse(p).map_err(|e| CurError::Input { path: "--period".into(), reason: e.to_string() });
    // A period nobody ingested reports zeros that look like a quiet month: say so.
    if let ReportCmd::Attribution { period, .. } | ReportCmd::Reconcile { period, .. } | ReportCmd::Gaps { period } | ReportCmd::LiveVsBilled { period } = cmd {
        let p = parse(period)?;
        if gov.period_sources(p).await?.is_empty() {
            eprintln!("finops report: warning: nothing was ingested for {p}; its figures are zero until `finops ingest` reads its CUR");
        }
    }
    match cmd {
        ReportCmd::Attribution { period, view, cost_basis } => {
            let period = parse(period)?;
            let basis = (*cost_basis).into();
            match view {
                View::Summary => {
                    let r = gov.attribution_report_on(&actor, period, basis).await?;
                    Ok(match format {
                        Format::Json => json(&r),
                        Format::Csv => attribution_grid(&r).csv(),
                        Format::Table => {
                            let mut out = table(
                                &["PERIOD", "TOTAL", "AI TOTAL", "ATTRIBUTED", "UNATTRIBUTED", "ADJUSTMENTS"],
                                &[[period.to_string(), r.total.to_string(), r.ai_total.to_string(), r.attributed.to_string(), r.unattributed.to_string(), r.adjustments.to_string()]],
                            );
                            out.push('\n');
                            out.push_str(&table(&["WORKLOAD", "COST"], &r.by_workload.iter().map(|w| [w.workload.to_string(), w.cost.to_string()]).collect::<Vec<_>>()));
                            out.push('\n');
                            out.push_str(&table(
                                &["UNATTRIBUTED REASON", "COST"],
                                &r.unattributed_by_reason.iter().map(|x| [x.reason.as_str().to_owned(), x.cost.to_string()]).collect::<Vec<_>>(),
                            ));
                            if !r.discounts.is_empty() {
                                out.push('\n');
                                out.push_str(&table(&["DISCOUNT (OWNER/KIND/ACCOUNT)", "COST"], &r.discounts.iter().map(|d| [discount_key(d), d.cost.to_string()]).collect::<Vec<_>>()));
                            }
                            out.push_str(&format!("\ncost basis: {}\n", r.cost_basis));
                            out
                        }
                    })
                }
                View::Hierarchy => {
                    let r = gov.attribution_rollup_on(&actor, period, basis).await?;
                    let grid = Grid {
                        header: ["LEVEL", "NODE", "NAME", "ATTRIBUTED"],
                        rows: r.iter().map(|n| [format!("E{}", n.level.number()).into(), n.node.to_string().into(), n.name.clone().into(), n.cost.into()]).collect(),
                    };
                    Ok(match format {
                        Format::Json => json(&r),
                        Format::Table => grid.table(),
                        Format::Csv => grid.csv(),
                    })
                }
                View::Legacy => {
                    let r = gov.legacy_view_on(&actor, period, basis).await?;
                    let mut rows: Vec<[Cell; 4]> = r.by_workload.iter().map(|w| [w.workload.to_string().into(), w.attributed.into(), w.shared_split.into(), w.total.into()]).collect();
                    rows.push(["(unallocated)".into(), "".into(), "".into(), r.unallocated.into()]);
                    let grid = Grid { header: ["WORKLOAD", "ATTRIBUTED", "SHARED SPLIT", "TOTAL"], rows };
                    Ok(match format {
                        Format::Json => json(&r),
                        Format::Table => grid.table(),
                        Format::Csv => grid.csv(),
                    })
                }
            }
        }
        ReportCmd::Gaps { .. } | ReportCmd::Cards { .. } | ReportCmd::Maturity { .. } => crate::analytics::report(&gov, cmd, format).await,
        ReportCmd::Investigations | ReportCmd::Live { .. } | ReportCmd::LiveVsBilled { .. } => crate::usage::report(&gov, cmd, format).await,
        ReportCmd::Reconcile { period, cost_basis } => {
            let r = gov.reconciliation_on(&actor, parse(period)?, (*cost_basis).into()).await?;
            let grid = Grid {
                header: ["ACCOUNT", "CUR TOTAL", "ATTRIBUTED", "UNATTRIBUTED", "ADJUSTMENTS", "NON-AI", "OUTSIDE PERIOD", "DIFFERENCE"],
                rows: r
                    .accounts
                    .iter()
                    .map(|a| [a.account.to_string().into(), a.cur_total.into(), a.attributed.into(), a.unattributed.into(), a.adjustments.into(), a.non_ai.into(), a.outside_period.into(), a.difference.into()])
                    .collect(),
            };
            let text = match format {
                Format::Json => json(&r),
                Format::Table => grid.table(),
                Format::Csv => grid.csv(),
            };
            if r.balanced {
                Ok(text)
            } else {
                Err(CurError::Input { path: format!("period {}", r.period), reason: format!("does not reconcile:\n{text}") })
            }
        }
    }
}

/// `gen-cur`'s options.
#[derive(Debug, Clone, Copy)]
pub struct GenSpec {
    pub rows: u64,
    pub ai_share: f64,
    pub seed: u64,
    pub rows_per_group: usize,
    pub estate: Option<cur_files::generate::Estate>,
}

pub fn gen_cur(g: GenSpec, period: &str, out: &Path, import_out: Option<&Path>) -> Result<String, CurError> {
    let bad = |reason: String| CurError::Input { path: out.display().to_string(), reason };
    let GenSpec { rows, ai_share, seed, rows_per_group, estate } = g;
    if !(0.0..=1.0).contains(&ai_share) {
        return Err(bad(format!("--ai-share must be between 0 and 1, not {ai_share}")));
    }
    if let Some(e) = estate {
        if e.principals == 0 || e.sessions == 0 || !(1..=31).contains(&e.days) {
            return Err(bad(format!("--principals and --sessions must be at least 1 and --days 1 to 31, not {} / {} / {}", e.principals, e.sessions, e.days)));
        }
    }
    let period = BillingPeriod::parse(period).map_err(|e| bad(e.to_string()))?;
    let spec = Spec { rows, ai_share, seed, period, rows_per_group: rows_per_group.max(1), estate };
    write_parquet(&spec, out).map_err(|source| CurError::Read { path: out.display().to_string(), source })?;
    let fixture_path = import_out.map(Path::to_path_buf).unwrap_or_else(|| out.with_extension("import.json"));
    let fixture = match estate {
        Some(e) => cur_files::generate::estate_import_fixture(period, e),
        None => import_fixture(period),
    };
    let fixture = serde_json::to_string_pretty(&fixture).map_err(|e| bad(e.to_string()))?;
    std::fs::write(&fixture_path, fixture + "\n").map_err(|e| bad(format!("{}: {e}", fixture_path.display())))?;
    Ok(format!("wrote {rows} rows of CUR 2.0 ({period}) to {}\nwrote the matching import fixture to {}\n", out.display(), fixture_path.display()))
}
