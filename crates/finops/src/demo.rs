//! `finops demo`: three workloads walked through the governed path over the local
//! HTTP API (a real server on a loopback port, real bearer tokens), on a fresh
//! embedded home. Each persona does only its own part.

use std::path::{Path, PathBuf};

use reqwest::{Client, Method};
use serde_json::{json, Value};

use crate::cli::Format;
use crate::local;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{0}")]
    Local(#[from] local::LocalError),
    #[error("demo home {path}: {source}")]
    Home { path: String, source: std::io::Error },
    #[error("{method} {path} answered {status}: {body}")]
    Api { method: String, path: String, status: u16, body: String },
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("{0}")]
    Unexpected(String),
}

struct Api {
    client: Client,
    base: String,
}

impl Api {
    async fn call(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> Result<Value, DemoError> {
        let mut req = self.client.request(method.clone(), format!("{}{path}", self.base)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await?;
        let status = res.status();
        let text = res.text().await?;
        if !status.is_success() {
            return Err(DemoError::Api { method: method.to_string(), path: path.into(), status: status.as_u16(), body: text });
        }
        Ok(if text.is_empty() { Value::Null } else { serde_json::from_str(&text).map_err(|e| DemoError::Unexpected(e.to_string()))? })
    }
}

struct Spec {
    draft: Value,
    approval: Value,
    workspace: Option<&'static str>,
}

fn specs() -> Vec<Spec> {
    let bc = |value_type: &str, baseline: &str, pct: &str| json!({"value_type": value_type, "annual_baseline": baseline, "target_pct": pct});
    vec![
        Spec {
            draft: json!({
                "target": {"kind": "new_workload", "name": "Support Chatbot", "portfolio": "assist"},
                "use_case": "operations", "description": "Answers tier-1 customer support questions", "runtime": "lambda",
                "availability": "standard", "estimate": {"kind": "monthly_dollars", "amount": "1200"},
                "business_case": bc("cost_saving", "480000", "15")
            }),
            approval: json!({
                "platform": "bedrock", "model": "anthropic.claude-3-haiku-20240307-v1:0", "accounts": ["111122223333"],
                "regions": ["us-east-1"], "business_case_acknowledged": true, "priority": "normal",
                "rationale": "Haiku covers tier-1 answers at the lowest cost"
            }),
            workspace: None,
        },
        Spec {
            draft: json!({
                "target": {"kind": "new_workload", "name": "Developer Copilot", "portfolio": "engineering"},
                "use_case": "coding", "description": "AI pair programming for the platform teams", "runtime": "ecs",
                "availability": "high_availability", "coding": {"developers": 40, "workday_share_pct": "25"},
                "business_case": bc("revenue_driving", "2000000", "5")
            }),
            approval: json!({
                "platform": "bedrock", "model": "anthropic.claude-sonnet-4-6", "accounts": ["444455556666"],
                "regions": ["us-east-1", "us-west-2"], "business_case_acknowledged": true, "priority": "priority",
                "rationale": "Sonnet for code quality; HA across US regions; MAP-eligible migration", "map_mpe_id": "12345"
            }),
            workspace: None,
        },
        Spec {
            draft: json!({
                "target": {"kind": "new_workload", "name": "Claims Assistant", "portfolio": "operations"},
                "use_case": "operations", "description": "Summarises insurance claims for adjusters", "runtime": "lambda",
                "availability": "standard", "estimate": {"kind": "monthly_tokens", "input": 200000000, "output": 40000000, "cache_read": 0}
            }),
            approval: json!({
                "platform": "claude_platform", "model": "anthropic.claude-sonnet-4-6", "accounts": ["777788889999"],
                "regions": ["us-east-1"], "workspace": "claims-assistant", "confirmed_estimate": "900",
                "priority": "normal", "rationale": "Claude Platform workspace keeps claims data in its own boundary"
            }),
            workspace: Some("claims-assistant"),
        },
    ]
}

fn hierarchy() -> Value {
    json!([
        {"id": "retail", "level": 1, "name": "Retail", "parent": null},
        {"id": "digital", "level": 2, "name": "Digital", "parent": "retail"},
        {"id": "assist", "level": 3, "name": "Customer Assist", "parent": "digital"},
        {"id": "engineering", "level": 3, "name": "Engineering Productivity", "parent": "digital"},
        {"id": "operations", "level": 3, "name": "Claims Operations", "parent": "digital"}
    ])
}

fn id(v: &Value, field: &str) -> Result<String, DemoError> {
    v.get(field).and_then(Value::as_str).map(String::from).ok_or_else(|| DemoError::Unexpected(format!("no {field} in {v}")))
}

/// Runs the demo and returns what to print.
pub async fn run(home: &Path, keep: bool, format: Format) -> Result<String, DemoError> {
    let temp;
    let dir: PathBuf = if keep {
        let d = home.join(format!("demo-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S")));
        std::fs::create_dir_all(&d).map_err(|source| DemoError::Home { path: d.display().to_string(), source })?;
        d
    } else {
        temp = tempfile::tempdir().map_err(|source| DemoError::Home { path: "temporary directory".into(), source })?;
        temp.path().to_owned()
    };
    let gov = local::governance(&dir)?;
    let tokens = local::tokens(&dir)?;
    let app = http_api::with_local_tokens(http_api::router(gov.clone()), tokens.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|source| DemoError::Home { path: "127.0.0.1:0".into(), source })?;
    let addr = listener.local_addr().map_err(|source| DemoError::Home { path: "listener".into(), source })?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let api = Api { client: Client::new(), base: format!("http://{addr}") };

    let expires = chrono::Utc::now() + chrono::Duration::hours(1);
    let mint = |user: &str, persona: domain::Persona, scope: &str| {
        let actor = domain::Actor::new(
            domain::UserId::parse(user).map_err(|e| DemoError::Unexpected(e.to_string()))?,
            persona,
            vec![domain::NodeId::parse(scope).map_err(|e| DemoError::Unexpected(e.to_string()))?],
        );
        tokens.mint(&actor, expires).map_err(|e| DemoError::Unexpected(e.to_string()))
    };
    let fl = mint("fiona@example.com", domain::Persona::FinOpsLead, "retail")?;
    let po = mint(DEMO_PO, domain::Persona::ProductOwner, "digital")?;
    let ce = mint("casey@example.com", domain::Persona::CloudEngineer, "retail")?;

    api.call(&fl, Method::POST, "/hierarchy", Some(hierarchy())).await?;
    let mut report = Vec::new();
    for spec in specs() {
        let request = api.call(&po, Method::POST, "/requests", Some(spec.draft.clone())).await?;
        let rid = id(&request, "id")?;
        api.call(&po, Method::POST, &format!("/requests/{rid}/submit"), None).await?;
        let approval = api.call(&fl, Method::POST, &format!("/requests/{rid}/approve"), Some(spec.approval.clone())).await?;
        let wid = id(&approval, "workload")?;
        // The Cloud Engineer works every open task of this workload, step by step,
        // until the chain is done (locked tasks open as their predecessors finish).
        loop {
            let open = api.call(&ce, Method::GET, "/tasks?open=true", None).await?;
            let mine: Vec<&Value> = open.as_array().into_iter().flatten().filter(|t| t["workload"] == json!(wid) && t["status"] != json!("Locked")).collect();
            let Some(task) = mine.first() else { break };
            let tid = id(task, "id")?;
            let next = task["steps"].as_array().map(|s| s.iter().position(|x| x["done"].is_null()).unwrap_or(0) + 1).unwrap_or(1);
            api.call(&ce, Method::POST, &format!("/tasks/{tid}/steps/{next}/complete"), None).await?;
        }
        let workload = api.call(&po, Method::GET, &format!("/workloads/{wid}"), None).await?;
        let role_arn = workload["handoff"]["role_arns"][0].as_str().map(String::from).ok_or_else(|| DemoError::Unexpected(format!("{wid} has no handoff")))?;
        if let Some(ws) = spec.workspace {
            api.call(&fl, Method::POST, "/claims", Some(json!({"workload": wid, "kind": "workspace", "arn": ws}))).await?;
        }
        api.call(&po, Method::POST, "/claims", Some(json!({"workload": wid, "kind": "iam_role", "arn": role_arn}))).await?;
        let all_tasks = api.call(&ce, Method::GET, "/tasks?open=false", None).await?;
        let tasks: Vec<Value> = all_tasks.as_array().into_iter().flatten().filter(|t| t["workload"] == json!(wid)).cloned().collect();
        let mut audit = api.call(&fl, Method::GET, &format!("/audit/business_request/{rid}"), None).await?.as_array().cloned().unwrap_or_default();
        audit.extend(api.call(&fl, Method::GET, &format!("/audit/workload/{wid}"), None).await?.as_array().cloned().unwrap_or_default());
        for t in &tasks {
            audit.extend(api.call(&fl, Method::GET, &format!("/audit/task/{}", id(t, "id")?), None).await?.as_array().cloned().unwrap_or_default());
        }
        audit.sort_by(|a, b| a["at"].as_str().cmp(&b["at"].as_str()));
        report.push(json!({
            "workload": api.call(&po, Method::GET, &format!("/workloads/{wid}"), None).await?,
            "approval": approval,
            "tasks": tasks,
            "claims": api.call(&po, Method::GET, &format!("/workloads/{wid}/claims"), None).await?,
            "inbox": api.call(&po, Method::GET, "/inbox", None).await?,
            "audit": audit,
        }));
    }
    let owner_token = |user: &str| mint(user, domain::Persona::ProductOwner, "digital");
    let analytics = analytics(&gov, &dir, &api, &fl, &po, &owner_token).await?;
    // The kill switch: the Product Owner suspends their first workload (the
    // deny and the tag on its role, recorded by the local enforcer), the
    // FinOps Lead looks at the state, and the owner resumes it.
    let first = report.first().and_then(|w| w["workload"]["id"].as_str()).map(String::from).ok_or_else(|| DemoError::Unexpected("no workload to suspend".into()))?;
    let suspended = api.call(&po, Method::POST, &format!("/workloads/{first}/suspend"), Some(json!({"rationale": "demo: a runaway loop, stop it now"}))).await?;
    let during = api.call(&fl, Method::GET, "/enforcement", None).await?;
    let resumed = api.call(&po, Method::POST, &format!("/workloads/{first}/resume"), Some(json!({"rationale": "demo: fixed, resume"}))).await?;
    let kill_switch = json!({"suspended": suspended, "during": during, "resumed": resumed});
    server.abort();
    let summary = json!({"home": if keep { Value::String(dir.display().to_string()) } else { Value::Null }, "api": api.base, "workloads": report, "analytics": analytics, "kill_switch": kill_switch});
    Ok(match format {
        Format::Json | Format::Csv => format!("{}\n", serde_json::to_string_pretty(&summary).unwrap_or_default()),
        Format::Table => render(&summary),
    })
}

/// The demo's Product Owner, who requests, claims and reviews its workloads.
const DEMO_PO: &str = "pat@example.com";

/// The demo's second half: a generated month of CUR for last week's month, with
/// the generator's governance state placed under the demo's portfolios, ingested
/// (the ingest event runs the gap detector through the local bus, as the rule
/// does in AWS), then attribution, gaps, the week's cards (built as Monday's
/// schedule does; the Product Owner accepts one) and maturity over the API.
async fn analytics(
    gov: &std::sync::Arc<services::governance::Governance>,
    dir: &Path,
    api: &Api,
    fl: &str,
    po: &str,
    owner_token: &dyn Fn(&str) -> Result<String, DemoError>,
) -> Result<Value, DemoError> {
    let unexpected = |e: &dyn std::fmt::Display| DemoError::Unexpected(e.to_string());
    let today = chrono::Utc::now().date_naive();
    let week = domain::analytics::cards::week_to_build(today);
    let period = domain::BillingPeriod::of(week.monday());
    let file = dir.join(format!("cur-{period}.parquet"));
    let spec = cur_files::generate::Spec { rows: 60_000, ai_share: 0.3, seed: 42, period, rows_per_group: 16_384, estate: None };
    cur_files::generate::write_parquet(&spec, &file).map_err(|e| unexpected(&e))?;
    let mut fixture = cur_files::generate::import_fixture(period);
    fixture["hierarchy"] = json!([]);
    for w in fixture["workloads"].as_array_mut().into_iter().flatten() {
        let node = if matches!(w["id"].as_str(), Some("chat" | "support-bot")) { "assist" } else { "engineering" };
        w["node"] = json!(node);
    }
    for c in fixture["claims"].as_array_mut().into_iter().flatten() {
        if c["claimed_at"].as_str().is_some_and(|d| d > today.to_string().as_str()) {
            c["claimed_at"] = json!(today.to_string());
        }
    }
    let doc: domain::governance::import::ImportDoc = serde_json::from_value(fixture).map_err(|e| unexpected(&e))?;
    let lead = domain::Actor::new(domain::UserId::parse("fiona@example.com").map_err(|e| unexpected(&e))?, domain::Persona::FinOpsLead, vec![domain::NodeId::parse("retail").map_err(|e| unexpected(&e))?]);
    gov.import(&lead, doc).await.map_err(|e| unexpected(&e))?;
    let (facts, stats) = cur_files::read_path(&file, 2).map_err(|e| unexpected(&e))?;
    let source = file.display().to_string();
    gov.store_source_facts(services::governance::SourceFacts { period, source: &source, facts: &facts, rows: stats.rows, principal_column: stats.principal_column, version: None, delivery: None })
        .await
        .map_err(|e| unexpected(&e))?;
    let attribution = serde_json::to_value(gov.attribution_report(&lead, period).await.map_err(|e| unexpected(&e))?).map_err(|e| unexpected(&e))?;
    let gaps = api.call(fl, Method::GET, &format!("/gaps?period={period}"), None).await?;
    gov.build_cards(week).await.map_err(|e| unexpected(&e))?;
    let mut cards = api.call(po, Method::GET, &format!("/cards?week={week}"), None).await?;
    // A card is settled by its workload's owner only: the first card's owner
    // accepts it.
    let first = cards.as_array().and_then(|c| c.first()).and_then(|c| Some((c["id"].as_str()?.to_owned(), c["owner"].as_str()?.to_owned())));
    if let Some((first, owner)) = first {
        api.call(&owner_token(&owner)?, Method::POST, &format!("/cards/{first}/accept"), None).await?;
        cards = api.call(po, Method::GET, &format!("/cards?week={week}"), None).await?;
    }
    let maturity = api.call(fl, Method::GET, &format!("/maturity?period={period}"), None).await?;
    Ok(json!({"period": period, "week": week, "rows": stats.rows, "attribution": attribution, "gaps": gaps, "cards": cards, "maturity": maturity}))
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn money(v: &Value) -> String {
    v.as_str().and_then(|x| x.parse::<domain::Money>().ok()).map(|m| m.round_cents().to_string()).unwrap_or_default()
}

fn render_analytics(a: &Value) -> String {
    let mut out = String::new();
    let r = &a["attribution"];
    out.push_str(&format!(
        "\n== Attribution, {} ({} CUR rows generated)\n   AI {} = attributed {} + unattributed {} + adjustments {}\n",
        s(a, "period"),
        a["rows"],
        money(&r["ai_total"]),
        money(&r["attributed"]),
        money(&r["unattributed"]),
        money(&r["adjustments"])
    ));
    for w in r["by_workload"].as_array().into_iter().flatten() {
        out.push_str(&format!("   {:<14} {}\n", s(w, "workload"), money(&w["cost"])));
    }
    let g = &a["gaps"];
    out.push_str(&format!(
        "\n== Allocation gaps: {} open, {} of spend; value at stake: Cost Saving {} / Revenue Driving {} a year\n",
        g["open"],
        money(&g["open_spend"]),
        money(&g["value_at_stake"]["cost_saving"]),
        money(&g["value_at_stake"]["revenue_driving"])
    ));
    for gap in g["gaps"].as_array().into_iter().flatten().take(10) {
        out.push_str(&format!("   {:<27} {:>10}  {:<8} {}\n", s(gap, "scenario"), money(&gap["spend"]), s(gap, "status"), s(gap, "key")));
    }
    out.push_str(&format!("\n== Spend cards, {}\n", s(a, "week")));
    for c in a["cards"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "   {:<24} actual {:>10}  estimate {:>10}  {:<8} cache hit {}  {}\n",
            s(c, "id"),
            money(&c["actual"]),
            money(&c["estimate"]),
            s(c, "flag"),
            c["cache_hit_rate"].as_str().unwrap_or("-"),
            s(c, "status")
        ));
    }
    let m = &a["maturity"];
    out.push_str(&format!("\n== Governance maturity: {} ({})\n", m["overall"].as_str().unwrap_or(""), s(m, "tier")));
    for d in m["dimensions"].as_array().into_iter().flatten() {
        out.push_str(&format!("   {:<21} {:>5}  {}  → {} (worth {})\n", s(d, "name"), d["score"].as_str().unwrap_or(""), s(d, "figures"), s(d, "next_move"), money(&d["worth"])));
    }
    out
}

fn render(summary: &Value) -> String {
    let mut out = String::new();
    for w in summary["workloads"].as_array().into_iter().flatten() {
        let wl = &w["workload"];
        let scope = &w["approval"]["scope"];
        out.push_str(&format!("\n== {} ({}): {}\n", s(wl, "name"), s(wl, "id"), s(wl, "status")));
        out.push_str(&format!(
            "   {} {} in {} / {}; FA Confirmed Estimate ${}/month; role {}\n",
            s(scope, "platform"),
            s(scope, "model"),
            scope["accounts"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")).unwrap_or_default(),
            scope["regions"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")).unwrap_or_default(),
            s(&w["approval"], "confirmed_estimate"),
            s(&w["approval"], "role_name"),
        ));
        for t in w["tasks"].as_array().into_iter().flatten() {
            out.push_str(&format!("   task {} {} {} (due {})\n", s(t, "id"), s(t, "kind"), s(t, "status"), s(t, "due")));
            for (i, step) in t["steps"].as_array().into_iter().flatten().enumerate() {
                out.push_str(&format!("     {}. {} [done by {}]\n", i + 1, s(step, "title"), s(&step["done"], "by")));
                for c in step["commands"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                    let first = c.lines().next().unwrap_or("");
                    let more = c.lines().count().saturating_sub(1);
                    out.push_str(&format!("        $ {first}{}\n", if more > 0 { format!("  … ({more} more lines)") } else { String::new() }));
                }
            }
        }
        let h = &wl["handoff"];
        out.push_str(&format!("   handoff: role {} · model {}\n", h["role_arns"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")).unwrap_or_default(), s(h, "model_id")));
        for c in w["claims"].as_array().into_iter().flatten() {
            out.push_str(&format!("   claim: {} {} from {} by {}\n", s(&c["target"], "kind"), s(&c["target"], "arn"), s(c, "claimed_at"), s(c, "claimed_by")));
        }
        out.push_str("   audit trail:\n");
        for a in w["audit"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "     {} {:<17} {:<24} {:<28} {} ({})\n",
                s(a, "at").get(..19).unwrap_or(""),
                s(&a["entity"], "kind"),
                s(a, "action"),
                format!("{} → {}", a["from_state"].as_str().unwrap_or("·"), a["to_state"].as_str().unwrap_or("·")),
                s(&a["actor"], "user"),
                s(&a["actor"], "persona"),
            ));
        }
    }
    out.push_str(&render_analytics(&summary["analytics"]));
    let k = &summary["kill_switch"];
    out.push_str(&format!("\n== Kill switch: {} {}\n", s(&k["suspended"]["enforcement"], "workload"), s(&k["suspended"]["enforcement"], "state")));
    for c in k["suspended"]["calls"].as_array().into_iter().flatten() {
        let role = &c["role"];
        out.push_str(&format!("   {} on {}/{}\n", s(c, "call"), s(role, "account"), s(role, "name")));
    }
    out.push_str(&format!("   then {} ({} call(s) to lift it)\n", s(&k["resumed"]["enforcement"], "state"), k["resumed"]["calls"].as_array().map_or(0, Vec::len)));
    out
}
