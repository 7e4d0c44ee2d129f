//! The kill switch in both worlds: the embedded world's record of IAM, and
//! IAM on moto (the roles exist there). Suspend puts the exact deny and the
//! tag, resume removes both, repeats change nothing, a failed write is
//! completed by a retry, drift is repaired, a shared role is refused, a wrong
//! persona is refused and audited, and a dry run changes nothing.

use domain::governance::claims::ClaimKind;
use domain::governance::enforcement::{kill_switch_deny, EnforcementState, IamCall, RoleRef, KILL_SWITCH_POLICY, SUSPENDED_TAG};
use domain::{Partition, Persona, WorkloadId};
use domain::governance::approval::Platform;
use domain::governance::tasks::{TaskKind, TaskStatus};
use services::governance::{ClaimInput, GovernanceError, SuspendInput};

use crate::emulators::unique_name;
use crate::governed_suite::approved;
use crate::governed_world::{actor, finops_lead, product_owner, World};

const ACCOUNT: &str = "111122223333";

fn input(rationale: &str) -> SuspendInput {
    SuspendInput { rationale: rationale.into(), whole_role: false, dry_run: false }
}

/// An approved workload owned by the Product Owner, claiming a role of its own.
pub async fn claimed(w: &World, role_name: &str) -> (WorkloadId, RoleRef) {
    let (_, a) = approved(w, "Chat").await;
    w.ensure_role(role_name).await;
    let arn = format!("arn:aws:iam::{ACCOUNT}:role/{role_name}");
    w.gov.claim(&product_owner(), ClaimInput { workload: a.workload.clone(), kind: ClaimKind::IamRole, arn, claimed_at: None, rationale: None }).await.map_err(|e| format!("{e:?}")).expect("claim");
    (a.workload, RoleRef::role(domain::AccountId::parse(ACCOUNT).expect("account"), role_name, Partition::Aws))
}

pub fn role_name() -> String {
    unique_name("ks").replace('_', "-").chars().take(60).collect()
}

pub async fn suspend_puts_the_exact_deny_and_tag_and_resume_removes_both(w: World) {
    let name = role_name();
    let (id, role) = claimed(&w, &name).await;
    let po = product_owner();
    let out = w.gov.suspend_workload(&po, &id, input("runaway agent loop")).await.expect("suspend");
    assert_eq!(out.enforcement.state, EnforcementState::Suspended);
    let deny = kill_switch_deny(&role, "");
    assert_eq!(
        out.calls,
        [
            IamCall::PutRolePolicy { role: role.clone(), policy_name: KILL_SWITCH_POLICY.into(), document: deny.clone() },
            IamCall::TagRole { role: role.clone(), key: SUSPENDED_TAG.into(), value: "true".into() },
        ]
    );
    // The same call twice: nothing to do, no second audit record.
    let again = w.gov.suspend_workload(&po, &id, input("still looping")).await.expect("suspend again");
    assert!(again.calls.is_empty(), "{:?}", again.calls);
    let trail = w.gov.audit_trail(&finops_lead(), "workload", id.as_str()).await.expect("audit");
    assert_eq!(trail.iter().filter(|r| r.action == "suspend").count(), 1);
    assert!(trail.iter().any(|r| r.action == "suspend" && r.rationale.as_deref() == Some("runaway agent loop") && r.to_state.as_deref() == Some("Suspended")));

    let resumed = w.gov.resume_workload(&po, &id, input("loop fixed")).await.expect("resume");
    assert_eq!(resumed.calls.len(), 2, "{:?}", resumed.calls);
    assert!(w.gov.resume_workload(&po, &id, input("loop fixed")).await.expect("resume again").calls.is_empty());
    let status = w.gov.enforcement_status(&finops_lead()).await.expect("status");
    assert_eq!(status.iter().find(|e| e.workload == id).map(|e| e.state), Some(EnforcementState::Resumed));
}

pub async fn a_dry_run_changes_nothing_and_drift_is_repaired(w: World) {
    let name = role_name();
    let (id, _) = claimed(&w, &name).await;
    let fl = finops_lead();
    let dry = w.gov.suspend_workload(&fl, &id, SuspendInput { dry_run: true, ..input("what would it do?") }).await.expect("dry run");
    assert_eq!((dry.dry_run, dry.calls.len()), (true, 2));
    assert!(w.gov.enforcement_status(&fl).await.expect("status").is_empty(), "a dry run stores nothing");
    // The real suspension makes exactly the calls the dry run printed.
    let real = w.gov.suspend_workload(&fl, &id, input("budget blown")).await.expect("suspend");
    assert_eq!(real.calls, dry.calls);
    // Someone deletes the deny by hand: the reconciler puts it back.
    let drop = real.calls.iter().find_map(|c| match c {
        IamCall::PutRolePolicy { role, policy_name, .. } => Some(IamCall::DeleteRolePolicy { role: role.clone(), policy_name: policy_name.clone() }),
        _ => None,
    });
    w.enforce_by_hand(drop.expect("a deny was put")).await;
    let repaired = w.gov.reconcile_enforcement().await.expect("reconcile");
    assert!(matches!(repaired.as_slice(), [IamCall::PutRolePolicy { .. }]), "{repaired:?}");
    assert!(w.gov.reconcile_enforcement().await.expect("reconcile").is_empty(), "nothing left to repair");
}

pub async fn wrong_personas_and_shared_roles_are_refused(w: World) {
    let name = role_name();
    let (id, _) = claimed(&w, &name).await;
    for who in [
        actor("casey@example.com", Persona::CloudEngineer, &["retail"]),
        actor("fran@example.com", Persona::Finance, &["retail"]),
        actor("olly@example.com", Persona::ProductOwner, &["assist"]),
    ] {
        let got = w.gov.suspend_workload(&who, &id, input("not mine to stop")).await;
        assert!(matches!(got, Err(GovernanceError::Forbidden(_))), "{}: {got:?}", who.user);
    }
    let trail = w.gov.audit_trail(&finops_lead(), "workload", id.as_str()).await.expect("audit");
    assert_eq!(trail.iter().filter(|r| r.action.starts_with("forbidden")).count(), 3, "every refusal is audited");
    assert!(matches!(w.gov.suspend_workload(&product_owner(), &id, input(" ")).await, Err(GovernanceError::Invalid(_))), "a rationale is required");

    // A broad (shared) role: refused without whole_role, forced by the FinOps Lead.
    let (_, b) = approved(&w, "Shared").await;
    let shared = format!("AWSReservedSSO_AdministratorAccess_{}", &role_name()[..8]);
    w.ensure_role(&shared).await;
    w.gov
        .claim(&product_owner(), ClaimInput { workload: b.workload.clone(), kind: ClaimKind::IamRole, arn: format!("arn:aws:iam::{ACCOUNT}:role/{shared}"), claimed_at: None, rationale: None })
        .await
        .expect("claim");
    let refused = w.gov.suspend_workload(&finops_lead(), &b.workload, input("stop it")).await;
    assert!(matches!(&refused, Err(GovernanceError::Conflict(m)) if m.contains("whole_role")), "{refused:?}");
    assert!(matches!(w.gov.suspend_workload(&product_owner(), &b.workload, SuspendInput { whole_role: true, ..input("force") }).await, Err(GovernanceError::Forbidden(_))));
    let forced = w.gov.suspend_workload(&finops_lead(), &b.workload, SuspendInput { whole_role: true, ..input("stop it all") }).await.expect("forced");
    assert!(forced.enforcement.whole_role);
    let trail = w.gov.audit_trail(&finops_lead(), "workload", b.workload.as_str()).await.expect("audit");
    assert!(trail.iter().any(|r| r.action == "suspend:whole_role"));
}

/// A critical spend card raises the workload's alert (Active → Alerting,
/// once, however often the card is rebuilt); the FinOps Lead takes it
/// (Investigating), and a suspension follows from there.
pub async fn a_critical_card_raises_an_alert_the_lead_investigates(w: World) {
    let name = role_name();
    let (_, a) = approved(&w, "Chat").await;
    w.ensure_role(&name).await;
    let arn = format!("arn:aws:iam::{ACCOUNT}:role/{name}");
    let fl = finops_lead();
    let since = chrono::NaiveDate::from_ymd_opt(2026, 2, 1);
    w.gov
        .claim(&fl, ClaimInput { workload: a.workload.clone(), kind: ClaimKind::IamRole, arn, claimed_at: since, rationale: Some("the role served Chat since February".into()) })
        .await
        .expect("claim");
    // 5,000 dollars in the card's week against a 1,200-a-month estimate.
    let mut facts = domain::cur::facts::Facts::default();
    let principal = format!("arn:aws:sts::{ACCOUNT}:assumed-role/{name}/app");
    facts.add(crate::analytics_suite::row(25, ACCOUNT, "USE1-Claude3Haiku-input-tokens", Some(&principal), "5000"));
    w.gov
        .store_source_facts(services::governance::SourceFacts { period: crate::attribution_suite::period(), source: "s3://cur/feb.csv", facts: &facts, rows: 1, principal_column: true, version: None, delivery: None })
        .await
        .expect("facts");
    let week = crate::analytics_suite::week();
    w.gov.build_cards(week).await.expect("cards");
    let card = w.gov.get_card(&fl, &format!("{week}.{}", a.workload)).await.expect("card");
    assert_eq!(card.flag, domain::analytics::cards::Flag::Critical, "{card:?}");
    let state = |w: &World| {
        let gov = w.gov.clone();
        let id = a.workload.clone();
        async move { gov.enforcement_status(&finops_lead()).await.expect("status").into_iter().find(|e| e.workload == id).map(|e| e.state) }
    };
    assert_eq!(state(&w).await, Some(EnforcementState::Alerting));
    let trail = w.gov.audit_trail(&fl, "workload", a.workload.as_str()).await.expect("audit");
    assert_eq!(trail.iter().filter(|r| r.action == "alert").count(), 1);
    assert!(matches!(w.gov.investigate_workload(&product_owner(), &a.workload, "mine").await, Err(GovernanceError::Forbidden(_))));
    assert!(matches!(w.gov.investigate_workload(&fl, &a.workload, " ").await, Err(GovernanceError::Invalid(_))));
    let taken = w.gov.investigate_workload(&fl, &a.workload, "looking at the agent's logs").await.expect("investigate");
    assert_eq!(taken.state, EnforcementState::Investigating);
    assert!(matches!(w.gov.investigate_workload(&fl, &a.workload, "again").await, Err(GovernanceError::Conflict(_))));
    w.gov.suspend_workload(&fl, &a.workload, input("confirmed runaway")).await.expect("suspend");
    assert_eq!(state(&w).await, Some(EnforcementState::Suspended));
    let trail = w.gov.audit_trail(&fl, "workload", a.workload.as_str()).await.expect("audit");
    let path: Vec<(Option<String>, Option<String>)> = trail.iter().filter(|r| ["alert", "investigate", "suspend"].contains(&r.action.as_str())).map(|r| (r.from_state.clone(), r.to_state.clone())).collect();
    assert_eq!(
        path,
        [
            (Some("Active".into()), Some("Alerting".into())),
            (Some("Alerting".into()), Some("Investigating".into())),
            (Some("Investigating".into()), Some("Suspended".into())),
        ]
    );
}

/// A per-user session of a shared role is claimed by its workload and denied
/// alone: an inline deny of its own, conditioned on `aws:userid` =
/// `ROLEID:session` with the role's real unique id, and no tag on the role
/// (the tag's SCP would stop every session). Forcing the whole role widens
/// the deny and lifts the session's own.
pub async fn a_claimed_session_of_a_shared_role_is_denied_alone(w: World) {
    let (_, a) = approved(&w, "Coding").await;
    let shared = format!("AWSReservedSSO_Developer_{}", &role_name()[..8]);
    w.ensure_role(&shared).await;
    let arn = format!("arn:aws:sts::{ACCOUNT}:assumed-role/{shared}/dev001@example.com");
    w.gov.claim(&product_owner(), ClaimInput { workload: a.workload.clone(), kind: ClaimKind::RoleSession, arn, claimed_at: None, rationale: None }).await.expect("claim the session");
    let role = RoleRef::role(domain::AccountId::parse(ACCOUNT).expect("account"), &shared, Partition::Aws);
    let session = RoleRef { session: Some("dev001@example.com".into()), ..role.clone() };
    let out = w.gov.suspend_workload(&product_owner(), &a.workload, input("a runaway agent in dev001's session")).await.expect("a session deny is scoped");
    let role_id = w.enforcer.role_id(&role).await.expect("role id");
    assert!(role_id.starts_with("AROA"), "{role_id}");
    let deny = kill_switch_deny(&session, &role_id);
    assert_eq!(deny["Statement"][0]["Condition"]["StringEquals"]["aws:userid"], format!("{role_id}:dev001@example.com"));
    assert_eq!(out.calls, [IamCall::PutRolePolicy { role: session.clone(), policy_name: "finops-kill-switch-dev001@example.com".into(), document: deny.clone() }]);
    let held = w.enforcer.observe(&role).await.expect("observe");
    assert!(!held.suspended_tag, "the shared role is not tagged");
    assert_eq!(held.policies.get("finops-kill-switch-dev001@example.com"), Some(&deny));
    assert!(w.gov.suspend_workload(&product_owner(), &a.workload, input("again")).await.expect("again").calls.is_empty());

    let forced = w.gov.suspend_workload(&finops_lead(), &a.workload, SuspendInput { whole_role: true, ..input("every session, now") }).await.expect("forced");
    assert_eq!(forced.enforcement.roles, std::slice::from_ref(&role));
    let held = w.enforcer.observe(&role).await.expect("observe");
    assert!(held.suspended_tag);
    assert_eq!(held.policies.keys().collect::<Vec<_>>(), [KILL_SWITCH_POLICY], "the session's own deny is lifted once the role's covers it");
    w.gov.resume_workload(&finops_lead(), &a.workload, input("fixed")).await.expect("resume");
    let held = w.enforcer.observe(&role).await.expect("observe");
    assert!(!held.suspended_tag && held.policies.is_empty(), "{held:?}");
}

/// A Claude Platform workload's calls use workspace keys IAM cannot stop:
/// suspending it opens a Cloud Engineer task with the exact key step and is
/// recorded as pending until that task is Implemented.
pub async fn a_claude_platform_workload_is_pending_manual_until_its_keys_are_off(w: World) {
    let id = crate::governed_suite::submitted(&w, "Claims").await;
    let input_claude = domain::governance::approval::ApprovalInput { platform: Platform::ClaudePlatform, workspace: Some("claims-ws".into()), ..crate::governed_suite::approval() };
    let a = w.gov.approve_request(&finops_lead(), &id, input_claude).await.expect("approve");
    w.pump().await;
    w.gov
        .claim(&finops_lead(), ClaimInput { workload: a.workload.clone(), kind: ClaimKind::Workspace, arn: "claims-ws".into(), claimed_at: None, rationale: None })
        .await
        .expect("claim the workspace");
    let out = w.gov.suspend_workload(&product_owner(), &a.workload, input("over budget")).await.expect("suspend");
    assert!(out.calls.is_empty(), "no IAM call can stop a workspace key");
    assert!(out.enforcement.pending_manual);
    let [task_id] = out.enforcement.manual_tasks.as_slice() else { panic!("one task: {:?}", out.enforcement.manual_tasks) };
    let ce = actor("casey@example.com", Persona::CloudEngineer, &["assist"]);
    let task = w.gov.get_task(&ce, task_id).await.expect("the task");
    assert_eq!((task.kind, task.status), (TaskKind::ClaudeWorkspaceKeys, TaskStatus::Open));
    assert!(task.steps[0].commands.iter().any(|c| c.contains("workspace_id=claims-ws") && c.contains("\"status\":\"inactive\"")), "{:?}", task.steps[0].commands);
    let pending = |w: &World| {
        let gov = w.gov.clone();
        let wl = a.workload.clone();
        async move { gov.enforcement_status(&finops_lead()).await.expect("status").into_iter().find(|e| e.workload == wl).map(|e| e.pending_manual) }
    };
    assert_eq!(pending(&w).await, Some(true));
    for n in 1..=task.steps.len() {
        w.gov.complete_step(&ce, task_id, n).await.expect("step");
    }
    assert_eq!(pending(&w).await, Some(false), "done by hand: in force");
    assert!(w.gov.suspend_workload(&product_owner(), &a.workload, input("again")).await.expect("again").enforcement.manual_tasks == out.enforcement.manual_tasks, "a repeat opens no second task");
    let resumed = w.gov.resume_workload(&product_owner(), &a.workload, input("budget raised")).await.expect("resume");
    let reopen = w.gov.get_task(&ce, &resumed.enforcement.manual_tasks[0]).await.expect("the resume task");
    assert!(reopen.steps[0].title.starts_with("Re-enable"), "{}", reopen.steps[0].title);
}

/// A gap's Block denies the model on every role that runs AI in the
/// account (the claimed ones and the gap's own principal), applied from state
/// (twice changes nothing, drift is repaired); with SCP targets the block
/// moves to one SCP and the inline denies come off; lifting it takes the deny
/// off and stamps the block, which stays in the record.
/// A Nova gap on an unclaimed role `etl-…` in the account, blocked by the
/// FinOps Lead: the block's id and that role.
pub async fn blocked(w: &World) -> (String, RoleRef) {
    use crate::analytics_suite as a;
    use domain::analytics::gaps::{GapAction, Scenario};
    let etl = format!("etl-{}", &role_name()[3..11]);
    w.ensure_role(&etl).await;
    let mut facts = domain::cur::facts::Facts::default();
    facts.add(a::row(5, ACCOUNT, "USE1-NovaLite-input-tokens", Some(&a::session(&etl)), "3.00"));
    a::store(w, "s3://cur/feb-block.parquet", &facts).await;
    w.gov.detect_gaps(crate::attribution_suite::period()).await.expect("detect");
    let gaps = a::stored_gaps(w).await;
    let g = a::find(&gaps, Scenario::NoBudgetAllocation, &etl);
    let out = w.gov.gap_action(&finops_lead(), &g.id, a::input(GapAction::Block, "Nova is not approved for ETL")).await.expect("block");
    let id = out.outcome["blocked"]["id"].as_str().expect("a block id").to_owned();
    (id, RoleRef::role(domain::AccountId::parse(ACCOUNT).expect("account"), &etl, Partition::Aws))
}

pub async fn a_blocked_model_is_denied_on_its_accounts_roles_until_lifted(w: World) {
    use domain::governance::enforcement::{model_block_deny, MODEL_BLOCK_POLICY};
    let (_, claimed_role) = claimed(&w, &role_name()).await;
    let (id, etl_role) = blocked(&w).await;
    let etl = etl_role.name.clone();
    let fl = finops_lead();

    // What the ModelBlocked consumer does, delivered twice.
    let deny = model_block_deny(Partition::Aws, &["amazon.nova-lite-v1:0".into()]).expect("a deny");
    let applied = w.gov.apply_model_blocks().await.expect("apply");
    assert!(applied.org.is_empty(), "no SCP targets: IAM carries the block");
    let mut put: Vec<&str> = applied
        .iam
        .iter()
        .map(|c| match c {
            IamCall::PutRolePolicy { role, policy_name, document } if policy_name == MODEL_BLOCK_POLICY && *document == deny => role.name.as_str(),
            other => panic!("only the block's deny: {other:?}"),
        })
        .collect();
    put.sort();
    let mut want = [claimed_role.name.as_str(), etl.as_str()];
    want.sort();
    assert_eq!(put, want);
    assert!(w.gov.apply_model_blocks().await.expect("again").is_empty(), "a duplicate delivery changes nothing");
    assert_eq!(w.enforcer.observe(&etl_role).await.expect("observe").policies.get(MODEL_BLOCK_POLICY), Some(&deny));
    // Removed by hand: the nightly run puts it back.
    w.enforce_by_hand(IamCall::DeleteRolePolicy { role: etl_role.clone(), policy_name: MODEL_BLOCK_POLICY.into() }).await;
    assert_eq!(w.gov.apply_model_blocks().await.expect("reconcile").iam.len(), 1);

    // Where Organizations is available, one SCP carries the block above every
    // role of the account, and the inline denies come off.
    let ou = w.scp_target().await;
    let org = std::sync::Arc::new((*w.gov).clone().with_scp_targets(vec![ou.clone()]));
    let moved = org.apply_model_blocks().await.expect("through the SCP");
    assert_eq!(moved.iam.len(), 2, "both inline denies lifted: {moved:?}");
    assert!(moved.org.contains(&domain::governance::enforcement::OrgCall::AttachPolicy { name: "finops-model-blocks".into(), target: ou.clone() }), "{moved:?}");
    let scp = w.enforcer.observe_scp("finops-model-blocks").await.expect("observe").expect("the block SCP");
    let statements = scp.document["Statement"].as_array().expect("statements").clone();
    assert!(statements.iter().any(|st| st["Resource"][0] == "arn:aws:bedrock:*::foundation-model/amazon.nova-lite-v1:0" && st["Condition"]["StringEquals"]["aws:PrincipalAccount"].as_array().is_some_and(|a| a.iter().any(|x| x == ACCOUNT))), "{statements:?}");
    assert!(w.enforcer.observe(&etl_role).await.expect("observe").policies.is_empty());
    assert!(org.apply_model_blocks().await.expect("again").is_empty());

    // Listing: the FinOps Lead and Finance; lifting: the FinOps Lead, with a reason.
    let fran = actor("fran@example.com", Persona::Finance, &["retail"]);
    assert!(w.gov.list_blocks(&fran).await.expect("finance sees blocks").iter().any(|b| b.id == id));
    assert!(matches!(w.gov.list_blocks(&product_owner()).await, Err(GovernanceError::Forbidden(_))));
    let lift = |r: &str| services::governance::LiftInput { rationale: r.into(), dry_run: false };
    assert!(matches!(w.gov.lift_block(&product_owner(), &id, lift("mine")).await, Err(GovernanceError::Forbidden(_))));
    assert!(matches!(w.gov.lift_block(&fl, &id, lift(" ")).await, Err(GovernanceError::Invalid(_))));
    assert!(matches!(w.gov.lift_block(&fl, "gap-202602-0000000000000000.b9", lift("no such")).await, Err(GovernanceError::NotFound { .. })));
    let dry = org.lift_block(&fl, &id, services::governance::LiftInput { dry_run: true, ..lift("what would it do?") }).await.expect("dry run");
    assert!(org.list_blocks(&fl).await.expect("blocks").iter().any(|b| b.id == id && b.lifted.is_none()), "a dry run stores nothing");
    let (lifted, calls) = org.lift_block(&fl, &id, lift("Nova approved for ETL after review")).await.expect("lift");
    assert_eq!(dry.1, calls, "the lift makes exactly the calls its dry run printed");
    assert!(calls.iam.is_empty(), "{calls:?}");
    assert_eq!(calls.org, [domain::governance::enforcement::OrgCall::DetachPolicy { name: "finops-model-blocks".into(), target: ou.clone() }], "nothing blocked: the SCP comes off the OU");
    assert_eq!(lifted.lifted.as_ref().map(|l| l.rationale.as_str()), Some("Nova approved for ETL after review"));
    assert!(w.enforcer.observe(&etl_role).await.expect("observe").policies.is_empty());
    assert!(org.lift_block(&fl, &id, lift("again")).await.expect("lift again").1.is_empty());
    let trail = w.gov.audit_trail(&fl, "block", &id).await.expect("audit");
    assert_eq!(trail.iter().filter(|r| r.action == "lift").count(), 1, "lifted once, audited once");
    assert!(w.gov.list_blocks(&fl).await.expect("blocks").iter().any(|b| b.id == id && b.lifted.is_some()), "a lifted block stays in the record");
}

/// The organisation's one SCP: installed by name (a second install makes
/// no call), attached to the OU named, holding exactly `suspended_scp`; an
/// edit by hand is put back by the nightly step; only the FinOps Lead installs.
pub async fn the_scp_is_installed_once_attached_and_kept(w: World) {
    use domain::governance::enforcement::{suspended_scp, OrgCall, SUSPENDED_SCP_NAME};
    let ou = w.scp_target().await;
    let fl = finops_lead();
    let dry = w.gov.install_scp(&fl, std::slice::from_ref(&ou), true).await.expect("dry run");
    assert!(dry.contains(&OrgCall::AttachPolicy { name: SUSPENDED_SCP_NAME.into(), target: ou.clone() }), "{dry:?}");
    assert!(w.enforcer.observe_scp(SUSPENDED_SCP_NAME).await.expect("observe").is_none_or(|s| !s.targets.contains(ou.as_str())), "a dry run changes nothing");
    let calls = w.gov.install_scp(&fl, std::slice::from_ref(&ou), false).await.expect("install");
    assert_eq!(calls, dry, "the install makes exactly the calls the dry run printed");
    let held = w.enforcer.observe_scp(SUSPENDED_SCP_NAME).await.expect("observe").expect("the SCP");
    assert_eq!(held.document, suspended_scp(Partition::Aws));
    assert!(held.targets.contains(ou.as_str()), "{held:?}");
    assert!(w.gov.install_scp(&fl, std::slice::from_ref(&ou), false).await.expect("again").is_empty(), "installed twice: nothing");
    let trail = w.gov.audit_trail(&fl, "scp", SUSPENDED_SCP_NAME).await.expect("audit");
    assert!(trail.iter().any(|r| r.action == "install_scp" && r.to_state.as_deref() == Some(ou.as_str())));

    // Edited by hand: the nightly step restores it, on the targets the install
    // recorded (no parameter names them).
    w.enforcer.org_call(&OrgCall::UpdatePolicy { name: SUSPENDED_SCP_NAME.into(), document: serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}) }).await.expect("edit by hand");
    assert!(matches!(w.gov.reconcile_scp().await.expect("reconcile")[..], [OrgCall::UpdatePolicy { .. }]));
    assert!(w.gov.reconcile_scp().await.expect("reconcile").is_empty());
    assert_eq!(w.enforcer.observe_scp(SUSPENDED_SCP_NAME).await.expect("observe").expect("the SCP").document, suspended_scp(Partition::Aws));

    assert!(matches!(w.gov.install_scp(&product_owner(), std::slice::from_ref(&ou), false).await, Err(GovernanceError::Forbidden(_))));
    assert!(matches!(w.gov.install_scp(&fl, &[], false).await, Err(GovernanceError::Invalid(_))));
}

#[macro_export]
macro_rules! kill_switch_tests {
    ($make:path) => {
        $crate::kill_switch_tests!(@cases $make;
            suspend_puts_the_exact_deny_and_tag_and_resume_removes_both,
            a_dry_run_changes_nothing_and_drift_is_repaired,
            wrong_personas_and_shared_roles_are_refused,
            a_critical_card_raises_an_alert_the_lead_investigates,
            a_claimed_session_of_a_shared_role_is_denied_alone,
            a_claude_platform_workload_is_pending_manual_until_its_keys_are_off,
            a_blocked_model_is_denied_on_its_accounts_roles_until_lifted,
            the_scp_is_installed_once_attached_and_kept
        );
    };
    (@cases $make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::kill_switch_suite::$case($make(false).await).await;
            }
        )*
    };
}
