//! `finops ask` and `finops mcp`: Agent Bill on the local home. The caller
//! is the user of the local token given with `--token` or `FINOPS_TOKEN`
//! (its persona and scope, as the local server would see them); with no
//! token, the local operator, a FinOps Lead over the whole hierarchy, as
//! the other commands act.

use std::path::Path;

use domain::Actor;
use rmcp::ServiceExt;
use services::governance::agent::AskInput;
use services::governance::Governance;

use crate::analytics::operator_everywhere;
use crate::cli::Format;
use crate::config::Config;
use crate::cur::CurError;
use crate::local;

fn input(flag: &str, reason: impl ToString) -> CurError {
    CurError::Input { path: flag.into(), reason: reason.to_string() }
}

/// The token's user, or the local operator.
async fn caller(gov: &Governance, home: &Path, token: Option<&str>) -> Result<Actor, CurError> {
    match token.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => local::tokens(home)?.verify(t, chrono::Utc::now(), None).map_err(|e| input("--token", e.0)),
        None => operator_everywhere(gov).await,
    }
}

pub async fn ask(config: &Config, home: &Path, question: &str, token: Option<&str>, confirm: bool, format: Format) -> Result<String, CurError> {
    let gov = local::governance_for(config).await?;
    let actor = caller(&gov, home, token).await?;
    let asked = gov.ask(&actor, AskInput { question: question.to_owned(), confirm }).await?;
    if !asked.understood {
        let reason = asked.refusal.unwrap_or_default();
        return Err(input("question", format!("{reason}. Agent Bill can answer:\n  - {}", asked.can_answer.join("\n  - "))));
    }
    Ok(match format {
        Format::Json | Format::Csv => format!("{}\n", serde_json::to_string_pretty(&asked).unwrap_or_default()),
        Format::Table => {
            let text = asked.answer.as_ref().map(|a| a.text.as_str()).unwrap_or_default();
            format!("Understood as: {}\n\n{text}\n", asked.explanation.unwrap_or_default())
        }
    })
}

/// Serves Agent Bill's tools on stdin/stdout until the client closes them.
pub async fn mcp(config: &Config, home: &Path, token: Option<&str>) -> Result<String, CurError> {
    let gov = local::governance_for(config).await?;
    let actor = caller(&gov, home, token).await?;
    let server = http_api::mcp::AgentBill::for_actor(gov, actor);
    let running = server.serve(rmcp::transport::stdio()).await.map_err(|e| input("mcp", format!("the MCP session did not start: {e}")))?;
    running.waiting().await.map_err(|e| input("mcp", e))?;
    Ok(String::new())
}

/// `finops map-tag WORKLOAD --value V | --clear --rationale R`, as the local operator.
pub async fn map_tag(config: &Config, workload: &str, value: Option<String>, rationale: String, format: Format) -> Result<String, CurError> {
    let id = domain::WorkloadId::parse(workload).map_err(|e| input("WORKLOAD", e))?;
    let gov = local::governance_for(config).await?;
    let actor = operator_everywhere(&gov).await?;
    let w = gov.set_map_tag(&actor, &id, services::governance::MapTagInput { map_migrated: value, rationale }).await?;
    Ok(match format {
        Format::Json | Format::Csv => format!("{}\n", serde_json::to_string_pretty(&w).unwrap_or_default()),
        Format::Table => format!("{id}: map-migrated {}\n", w.map_migrated.as_deref().unwrap_or("(none)")),
    })
}
