//! The kill switch from the terminal: `suspend`, `resume` (each with
//! `--dry-run`) and `enforcement status|reconcile|blocks|lift|install-scp`, as the local operator
//! (the FinOps Lead). Locally the enforcer is the store's record; against a
//! deployed stack (`FINOPS_STORE=dynamodb`) it is IAM.

use domain::WorkloadId;
use serde::Serialize;
use services::governance::SuspendInput;

use crate::cli::{EnforcementCmd, Format};
use crate::config::Config;
use crate::cur::{operator, CurError};
use crate::local;
use crate::output::table;

fn json<T: Serialize>(v: &T) -> String {
    format!("{}\n", serde_json::to_string_pretty(v).unwrap_or_default())
}

pub async fn enforce(config: &Config, workload: &str, input: SuspendInput, suspend: bool, format: Format) -> Result<String, CurError> {
    let id = WorkloadId::parse(workload).map_err(|e| CurError::Input { path: "WORKLOAD".into(), reason: e.to_string() })?;
    let gov = local::governance_for(config).await?;
    let mut actor = operator();
    actor.scope = gov.hierarchy().await?.nodes().filter(|n| n.parent.is_none()).map(|n| n.id.clone()).collect();
    let out = if suspend { gov.suspend_workload(&actor, &id, input).await? } else { gov.resume_workload(&actor, &id, input).await? };
    Ok(match format {
        Format::Json | Format::Csv => json(&out),
        Format::Table => {
            let verb = if out.dry_run { "would make" } else { "made" };
            let mut text = format!("{id}: {} ({verb} {} IAM call(s))\n", out.enforcement.state.as_str(), out.calls.len());
            for c in &out.calls {
                text.push_str(&format!("  {}\n", c.cli()));
            }
            text
        }
    })
}

pub async fn command(config: &Config, cmd: EnforcementCmd, format: Format) -> Result<String, CurError> {
    let gov = local::governance_for(config).await?;
    match cmd {
        EnforcementCmd::Status => {
            let mut actor = operator();
            actor.scope = gov.hierarchy().await?.nodes().filter(|n| n.parent.is_none()).map(|n| n.id.clone()).collect();
            let rows = gov.enforcement_status(&actor).await?;
            Ok(match format {
                Format::Json | Format::Csv => json(&rows),
                Format::Table => table(
                    &["WORKLOAD", "STATE", "PRINCIPALS", "PENDING", "BY", "AT", "RATIONALE"],
                    &rows
                        .iter()
                        .map(|r| {
                            [
                                r.workload.to_string(),
                                r.state.as_str().into(),
                                r.roles.iter().map(|x| x.principal()).collect::<Vec<_>>().join(" "),
                                if r.pending_manual { format!("manual: {}", r.manual_tasks.join(" ")) } else { String::new() },
                                r.by.to_string(),
                                r.at.to_rfc3339(),
                                r.rationale.clone(),
                            ]
                        })
                        .collect::<Vec<_>>(),
                ),
            })
        }
        EnforcementCmd::Blocks => {
            let blocks = gov.list_blocks(&operator()).await?;
            Ok(match format {
                Format::Json | Format::Csv => json(&blocks),
                Format::Table => table(
                    &["BLOCK", "MODEL", "ACCOUNTS", "BY", "AT", "LIFTED", "RATIONALE"],
                    &blocks
                        .iter()
                        .map(|b| {
                            let accounts = b.accounts.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(" ");
                            let lifted = b.lifted.as_ref().map_or_else(String::new, |l| format!("{} by {}: {}", l.at.to_rfc3339(), l.by, l.rationale));
                            [b.id.clone(), b.model.clone(), accounts, b.by.to_string(), b.at.to_rfc3339(), lifted, b.rationale.clone()]
                        })
                        .collect::<Vec<_>>(),
                ),
            })
        }
        EnforcementCmd::Lift { block, rationale, dry_run } => {
            let (b, calls) = gov.lift_block(&operator(), &block, services::governance::LiftInput { rationale, dry_run }).await?;
            Ok(match format {
                Format::Json | Format::Csv => json(&serde_json::json!({"block": b, "calls": calls, "dry_run": dry_run})),
                Format::Table => {
                    let (what, verb) = if dry_run { ("would be lifted", "would make") } else { ("lifted", "made") };
                    format!("{}: {} {what} ({verb} {} call(s))\n{}", b.id, b.model, calls.len(), calls.cli().iter().map(|c| format!("  {c}\n")).collect::<String>())
                }
            })
        }
        EnforcementCmd::InstallScp { targets, dry_run } => {
            let targets = targets
                .iter()
                .map(|t| domain::governance::enforcement::ScpTarget::parse(t).map_err(|e| CurError::Input { path: "--target".into(), reason: e.to_string() }))
                .collect::<Result<Vec<_>, _>>()?;
            let calls = gov.install_scp(&operator(), &targets, dry_run).await?;
            Ok(match format {
                Format::Json | Format::Csv => json(&calls),
                Format::Table => {
                    let verb = if dry_run { "would make" } else { "made" };
                    format!("SCP {}: {verb} {} Organizations call(s)\n{}", domain::governance::enforcement::SUSPENDED_SCP_NAME, calls.len(), calls.iter().map(|c| format!("  {}\n", c.cli())).collect::<String>())
                }
            })
        }
        EnforcementCmd::Reconcile { dry_run } => {
            let (repaired, blocks) = match dry_run {
                true => (gov.enforcement_drift().await?, gov.plan_model_blocks(None).await?),
                false => (gov.reconcile_enforcement().await?, gov.apply_model_blocks().await?),
            };
            Ok(match format {
                Format::Json | Format::Csv => json(&serde_json::json!({"repaired": repaired, "blocks": blocks})),
                Format::Table => {
                    let lines: Vec<String> = repaired.iter().map(|c| c.cli()).chain(blocks.cli()).collect();
                    let verb = if dry_run { "would repair" } else { "to repair" };
                    format!("{} call(s) {verb} drift\n{}", lines.len(), lines.iter().map(|l| format!("  {l}\n")).collect::<String>())
                }
            })
        }
    }
}
