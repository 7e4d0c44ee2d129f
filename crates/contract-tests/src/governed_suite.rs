//! The governed path, end to end, asserted the same way in every world.

use domain::governance::approval::{ApprovalInput, Platform, Priority};
use domain::governance::authz::Action;
use domain::governance::claims::ClaimKind;
use domain::governance::request::{
    Availability, BusinessCase, EstimateInput, RequestDraft, RequestStatus, Runtime, Target, UseCase, ValueType,
};
use domain::governance::tasks::TaskStatus;
use domain::governance::workload::WorkloadStatus;
use domain::{AccountId, ModelId, Money, NodeId, Persona, Region, RequestId};
use rust_decimal::Decimal;
use services::governance::{ClaimInput, Decision, GovernanceError, ReleaseInput};
use services::ports::bus::DomainEvent;

use crate::governed_world::{actor, cloud_engineer, finops_lead, product_owner, World};

pub fn draft(name: &str) -> RequestDraft {
    RequestDraft {
        target: Target::NewWorkload { name: name.into(), portfolio: NodeId::parse("assist").expect("node") },
        use_case: UseCase::Operations,
        description: "Answers tier-1 support questions".into(),
        runtime: Runtime::Lambda,
        availability: Availability::Standard,
        coding: None,
        estimate: Some(EstimateInput::MonthlyDollars { amount: Money::parse("1200").expect("money") }),
        business_case: Some(BusinessCase { value_type: ValueType::CostSaving, annual_baseline: Money::parse("500000").expect("money"), target_pct: Decimal::from(12) }),
    }
}

pub fn approval() -> ApprovalInput {
    ApprovalInput {
        platform: Platform::Bedrock,
        model: ModelId::parse("anthropic.claude-3-haiku-20240307-v1:0").expect("model"),
        accounts: vec![AccountId::parse("111122223333").expect("account")],
        regions: vec![Region::parse("us-east-1").expect("region")],
        workspace: None,
        confirmed_estimate: None,
        business_case_acknowledged: true,
        priority: Priority::Normal,
        rationale: "Fits the support budget".into(),
        agentic_access: false,
        cross_region: false,
        map_mpe_id: None,
    }
}

pub async fn submitted(w: &World, name: &str) -> RequestId {
    let po = product_owner();
    let r = w.gov.create_request(&po, draft(name)).await.expect("create");
    w.gov.submit_request(&po, &r.id).await.expect("submit");
    r.id
}

pub async fn approved(w: &World, name: &str) -> (RequestId, services::governance::ApprovalRecord) {
    let id = submitted(w, name).await;
    let a = w.gov.approve_request(&finops_lead(), &id, approval()).await.expect("approve");
    w.pump().await;
    (id, a)
}

async fn actions(w: &World, kind: &str, id: &str) -> Vec<String> {
    w.gov.audit_trail(&finops_lead(), kind, id).await.expect("audit").into_iter().map(|r| r.action).collect()
}

pub async fn the_full_path_from_request_to_live(w: World) {
    let (po, fl, ce) = (product_owner(), finops_lead(), cloud_engineer());
    let r = w.gov.create_request(&po, draft("Support Chatbot")).await.expect("create");
    assert_eq!(r.status, RequestStatus::Draft);
    w.gov.submit_request(&po, &r.id).await.expect("submit");
    assert_eq!(w.gov.list_requests(&fl, Some(RequestStatus::Submitted)).await.expect("queue").len(), 1);

    let a = w.gov.approve_request(&fl, &r.id, approval()).await.expect("approve");
    assert!(a.role_name.starts_with("finops-support-chatbot-"), "{}", a.role_name);
    assert_eq!(a.confirmed_estimate, Money::parse("1200").expect("money"));
    w.pump().await;

    let tasks = w.gov.list_tasks(&ce, true).await.expect("tasks");
    assert_eq!(tasks.len(), 1);
    let task = &tasks[0];
    assert_eq!((task.steps.len(), task.status), (4, TaskStatus::Open));
    assert_eq!(task.due.to_rfc3339(), "2026-03-09T09:00:00+00:00", "Normal priority: 5 business days");
    for n in 1..=4 {
        w.gov.complete_step(&ce, &task.id, n).await.expect("step");
    }
    assert!(w.gov.list_tasks(&ce, true).await.expect("tasks").is_empty());

    let wl = w.gov.get_workload(&po, &a.workload).await.expect("workload");
    assert_eq!(wl.status, WorkloadStatus::ReadyToClaim);
    let handoff = wl.handoff.expect("handoff");
    let role_arn = format!("arn:aws:iam::111122223333:role/{}", a.role_name);
    assert_eq!(handoff.role_arns, std::slice::from_ref(&role_arn));
    assert_eq!(handoff.model_id, "anthropic.claude-3-haiku-20240307-v1:0");
    let inbox = w.gov.inbox(&po).await.expect("inbox");
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].kind, "ready_to_claim");

    let claim = w.gov.claim(&po, ClaimInput { workload: a.workload.clone(), kind: ClaimKind::IamRole, arn: role_arn, claimed_at: None, rationale: None }).await.expect("claim");
    assert_eq!(claim.claimed_at.to_string(), "2026-03-02");
    assert_eq!(w.gov.get_workload(&po, &a.workload).await.expect("workload").status, WorkloadStatus::Live);

    assert_eq!(actions(&w, "business_request", r.id.as_str()).await, ["create", "submit", "approve", "generate_tasks"]);
    assert_eq!(actions(&w, "task", &task.id).await, ["complete_step:1", "complete_step:2", "complete_step:3", "complete_step:4"]);
    assert_eq!(actions(&w, "workload", a.workload.as_str()).await, ["approve", "generate_tasks", "ready_to_claim", "claim"]);

    // Audit trails follow their entity's scope: outside it a trail is refused
    // (and the refusal audited), as reading the entity itself is.
    let outsiders = [
        crate::governed_world::actor("olly@example.com", domain::Persona::ProductOwner, &["payments"]),
        crate::governed_world::actor("cyd@example.com", domain::Persona::CloudEngineer, &["payments"]),
        crate::governed_world::actor("fran@example.com", domain::Persona::Finance, &["payments"]),
    ];
    for outsider in &outsiders {
        for (kind, id) in [("business_request", r.id.as_str()), ("task", task.id.as_str()), ("workload", a.workload.as_str())] {
            let got = w.gov.audit_trail(outsider, kind, id).await;
            assert!(matches!(got, Err(services::governance::GovernanceError::Forbidden(_))), "{} read the {kind} trail: {got:?}", outsider.user);
        }
    }
    assert!(actions(&w, "workload", a.workload.as_str()).await.iter().any(|x| x == "forbidden:out_of_scope"), "refusals are audited");
    assert!(w.gov.audit_trail(&po, "workload", a.workload.as_str()).await.is_ok(), "the owner in scope reads it");
    let claim_trail = w.gov.audit_trail(&po, "claim", &claim.target.key).await;
    assert!(matches!(claim_trail, Err(services::governance::GovernanceError::Forbidden(_))), "organisation-level trails are the FinOps Lead's and Finance's");
}

pub async fn a_duplicate_approval_event_creates_no_second_task_set(w: World) {
    let (id, a) = approved(&w, "Chat").await;
    let before = w.gov.list_tasks(&cloud_engineer(), false).await.expect("tasks");
    assert_eq!(before.len(), 1);
    let duplicate = DomainEvent {
        id: "redelivered".into(),
        detail_type: "BusinessRequestApproved".into(),
        time: w.gov_time(),
        correlation_id: a.correlation_id.clone(),
        detail: serde_json::json!({"request": id, "workload": a.workload}),
    };
    w.task_generator.handle(&duplicate).await.expect("first redelivery");
    w.task_generator.handle(&duplicate).await.expect("second redelivery");
    assert_eq!(w.gov.generate_tasks(&id).await.expect("generate"), 0);
    assert_eq!(w.gov.list_tasks(&cloud_engineer(), false).await.expect("tasks"), before);
    assert_eq!(actions(&w, "business_request", id.as_str()).await.iter().filter(|a| *a == "generate_tasks").count(), 1);
}

pub async fn the_reconciler_repairs_a_lost_approval_event(w: World) {
    let (id, _) = approved(&w, "Chat").await;
    assert!(w.gov.list_tasks(&cloud_engineer(), false).await.expect("tasks").is_empty(), "the event was lost");
    assert_eq!(w.gov.reconcile_task_sets().await.expect("reconcile"), [id]);
    assert_eq!(w.gov.list_tasks(&cloud_engineer(), false).await.expect("tasks").len(), 1);
    assert!(w.gov.reconcile_task_sets().await.expect("reconcile").is_empty(), "nothing left to repair");
}

pub async fn two_finops_leads_approving_at_once_make_one_approval(w: World) {
    let id = submitted(&w, "Chat").await;
    let other = actor("fred@example.com", Persona::FinOpsLead, &["retail"]);
    let first = finops_lead();
    let (a, b) = tokio::join!(w.gov.approve_request(&first, &id, approval()), w.gov.approve_request(&other, &id, approval()));
    let oks = [a.is_ok(), b.is_ok()].iter().filter(|x| **x).count();
    assert_eq!(oks, 1, "{a:?} {b:?}");
    assert!(matches!(a.err().or(b.err()), Some(GovernanceError::Conflict(_))));
    w.pump().await;
    assert_eq!(w.gov.list_tasks(&cloud_engineer(), false).await.expect("tasks").len(), 1, "one task set");
    assert_eq!(actions(&w, "business_request", id.as_str()).await.iter().filter(|a| *a == "approve").count(), 1);
}

pub async fn bad_input_names_the_field_and_stores_nothing(w: World) {
    let (po, fl) = (product_owner(), finops_lead());
    let mut long = draft("Chat");
    long.description = "x".repeat(501);
    let err = w.gov.create_request(&po, long).await.unwrap_err();
    assert_eq!(err.field(), Some("description"), "{err}");
    let mut not_portfolio = draft("Chat");
    not_portfolio.target = Target::NewWorkload { name: "Chat".into(), portfolio: NodeId::parse("digital").expect("node") };
    let err = w.gov.create_request(&actor("pat@example.com", Persona::ProductOwner, &["retail"]), not_portfolio).await.unwrap_err();
    assert_eq!(err.field(), Some("target.portfolio"), "{err}");
    assert!(w.gov.list_requests(&fl, None).await.expect("list").is_empty(), "nothing stored");

    let id = submitted(&w, "Chat").await;
    for (mutate, field) in [
        (Box::new(|a: &mut ApprovalInput| a.accounts.clear()) as Box<dyn Fn(&mut ApprovalInput)>, "accounts"),
        (Box::new(|a: &mut ApprovalInput| a.model = ModelId::parse("acme.unknown-v1").expect("model")), "model"),
        (Box::new(|a: &mut ApprovalInput| a.rationale = " ".into()), "rationale"),
        (Box::new(|a: &mut ApprovalInput| a.business_case_acknowledged = false), "business_case_acknowledged"),
    ] {
        let mut input = approval();
        mutate(&mut input);
        let err = w.gov.approve_request(&fl, &id, input).await.unwrap_err();
        assert_eq!(err.field(), Some(field), "{err}");
    }
    assert_eq!(w.gov.get_request(&fl, &id).await.expect("request").status, RequestStatus::Submitted);
    assert!(w.gov.approval(&id).await.expect("approval").is_none());
    let err = w.gov.reject_request(&fl, &id, Decision { rationale: "".into() }).await.unwrap_err();
    assert_eq!(err.field(), Some("rationale"));
    let err = w.gov.complete_step(&cloud_engineer(), "br-nope-t1", 1).await.unwrap_err();
    assert!(matches!(err, GovernanceError::NotFound { .. }), "{err}");
}

/// Every persona × action: allowed ones succeed, forbidden ones are refused with
/// a reason and audited.
pub async fn separation_of_duties_holds_for_every_persona(w: World) {
    let personas = [Persona::ProductOwner, Persona::FinOpsLead, Persona::CloudEngineer, Persona::PortfolioOwner, Persona::Finance];
    for (i, persona) in personas.into_iter().enumerate() {
        let who = actor(&format!("user{i}@example.com"), persona, &["retail"]);
        for action in [Action::SubmitRequest, Action::ApproveRequest, Action::RejectRequest, Action::WorkTask, Action::ClaimRole, Action::AssignGuardrail] {
            let allowed = domain::governance::authz::permits(persona, action);
            let (result, entity): (Result<(), GovernanceError>, (String, String)) = match action {
                Action::SubmitRequest => {
                    let r = w.gov.create_request(&who, draft("Chat")).await;
                    (r.map(|_| ()), ("business_request".into(), String::new()))
                }
                Action::ApproveRequest | Action::RejectRequest => {
                    let id = submitted(&w, "Chat").await;
                    let r = if action == Action::ApproveRequest {
                        w.gov.approve_request(&who, &id, approval()).await.map(|_| ())
                    } else {
                        w.gov.reject_request(&who, &id, Decision { rationale: "no".into() }).await.map(|_| ())
                    };
                    (r, ("business_request".into(), id.to_string()))
                }
                Action::WorkTask => {
                    let (_, a) = approved(&w, "Chat").await;
                    let task = w.gov.list_tasks(&finops_lead(), true).await.expect("tasks").into_iter().find(|t| t.workload == a.workload).expect("task");
                    (w.gov.complete_step(&who, &task.id, 1).await.map(|_| ()), ("task".into(), task.id))
                }
                _ => {
                    let (_, a) = approved(&w, "Chat").await;
                    let (kind, arn) = if action == Action::ClaimRole {
                        (ClaimKind::IamRole, format!("arn:aws:iam::111122223333:role/{}", a.role_name))
                    } else {
                        (ClaimKind::Guardrail, format!("arn:aws:bedrock:us-east-1:111122223333:guardrail/g{i}{}", a.workload.as_str().len()))
                    };
                    let key = domain::governance::claims::ClaimTarget::parse(kind, &arn).expect("target").key;
                    (w.gov.claim(&who, ClaimInput { workload: a.workload, kind, arn, claimed_at: None, rationale: None }).await.map(|_| ()), ("claim".into(), key))
                }
            };
            match (allowed, result) {
                (true, Ok(())) => {}
                (false, Err(GovernanceError::Forbidden(reason))) => {
                    assert!(reason.contains("separation of duties"), "{persona} {action:?}: {reason}");
                    if !entity.1.is_empty() {
                        let trail = actions(&w, &entity.0, &entity.1).await;
                        assert!(trail.iter().any(|a| a.starts_with("forbidden:")), "{persona} {action:?} not audited: {trail:?}");
                    }
                }
                (allowed, other) => panic!("{persona} {action:?}: allowed={allowed}, got {other:?}"),
            }
        }
    }
    // A FinOps Lead who requested may not approve their own request.
    let fl_po = actor("fiona@example.com", Persona::ProductOwner, &["assist"]);
    let r = w.gov.create_request(&fl_po, draft("Own")).await.expect("create");
    w.gov.submit_request(&fl_po, &r.id).await.expect("submit");
    let err = w.gov.approve_request(&finops_lead(), &r.id, approval()).await.unwrap_err();
    assert!(matches!(&err, GovernanceError::Forbidden(m) if m.contains("own request")), "{err}");
    // Scope: a Product Owner outside the portfolio cannot see or request into it.
    let outsider = actor("olga@example.com", Persona::ProductOwner, &["payments"]);
    assert!(matches!(w.gov.create_request(&outsider, draft("X")).await, Err(GovernanceError::Forbidden(_))));
    assert!(matches!(w.gov.get_request(&outsider, &r.id).await, Err(GovernanceError::Forbidden(_))));
    assert!(w.gov.list_requests(&outsider, None).await.expect("list").is_empty());
}

pub async fn one_anchor_belongs_to_one_workload_at_a_time(w: World) {
    let po = product_owner();
    let (_, a1) = approved(&w, "First").await;
    let (_, a2) = approved(&w, "Second").await;
    let arn = "arn:aws:iam::111122223333:role/shared-role".to_owned();
    let claim = |wl: &domain::WorkloadId, arn: &str| ClaimInput { workload: wl.clone(), kind: ClaimKind::IamRole, arn: arn.to_owned(), claimed_at: None, rationale: None };
    w.gov.claim(&po, claim(&a1.workload, &arn)).await.expect("first claim");
    let err = w.gov.claim(&po, claim(&a2.workload, &arn)).await.unwrap_err();
    assert!(matches!(&err, GovernanceError::Conflict(m) if m.contains(a1.workload.as_str())), "{err}");
    // The same role under a path is the same anchor.
    let pathed = "arn:aws:iam::111122223333:role/team/shared-role";
    assert!(matches!(w.gov.claim(&po, claim(&a2.workload, pathed)).await, Err(GovernanceError::Conflict(_))));

    let err = w.gov.release_claim(&po, ReleaseInput { kind: ClaimKind::IamRole, arn: arn.clone(), rationale: " ".into() }).await.unwrap_err();
    assert_eq!(err.field(), Some("rationale"));
    w.clock.advance(chrono::Duration::days(3));
    w.gov.release_claim(&po, ReleaseInput { kind: ClaimKind::IamRole, arn: arn.clone(), rationale: "moving to Second".into() }).await.expect("release");
    w.gov.claim(&po, claim(&a2.workload, &arn)).await.expect("claim after release");
    let periods = w.gov.all_claims().await.expect("claims");
    let mut mine: Vec<_> = periods.iter().filter(|c| c.target.arn == arn).collect();
    mine.sort_by_key(|c| c.claimed_at);
    assert_eq!(mine.len(), 2, "both periods are kept");
    assert_eq!((mine[0].workload.clone(), mine[0].released_at.map(|d| d.to_string())), (a1.workload.clone(), Some("2026-03-05".into())));
    assert_eq!((mine[1].workload.clone(), mine[1].released_at), (a2.workload.clone(), None));
    let trail = actions(&w, "claim", &mine[0].target.key).await;
    assert_eq!(trail, ["claim", "release", "claim"]);

    // Two concurrent claims of a fresh anchor: exactly one wins.
    let fresh = "arn:aws:iam::111122223333:role/contested";
    let (x, y) = tokio::join!(w.gov.claim(&po, claim(&a1.workload, fresh)), w.gov.claim(&po, claim(&a2.workload, fresh)));
    assert_eq!([x.is_ok(), y.is_ok()].iter().filter(|v| **v).count(), 1, "{x:?} {y:?}");

    let future = ClaimInput { claimed_at: Some(chrono::NaiveDate::from_ymd_opt(2030, 1, 1).expect("date")), ..claim(&a1.workload, "arn:aws:iam::111122223333:role/later") };
    assert_eq!(w.gov.claim(&po, future).await.unwrap_err().field(), Some("claimed_at"));
}

/// A role name already taken (another workload's reservation) is never reused:
/// approval moves on to the next generated name.
pub async fn a_taken_role_name_is_not_reused(w: World) {
    use services::ports::store::{Condition, ItemData, ItemKey};
    let id = submitted(&w, "Support Chatbot").await;
    let first = domain::governance::tasks::role_name("Support Chatbot", &id, 0);
    let mut attrs = services::ports::store::Attributes::new();
    attrs.insert("workload".into(), serde_json::json!("someone-else"));
    w.store
        .put(ItemData::new(ItemKey::new(services::governance::keys::role_name(&first), services::governance::keys::META), attrs), Condition::MustNotExist)
        .await
        .expect("reserve");
    let a = w.gov.approve_request(&finops_lead(), &id, approval()).await.expect("approve");
    assert_ne!(a.role_name, first);
    assert_eq!(a.role_name, domain::governance::tasks::role_name("Support Chatbot", &id, 1));
}

impl World {
    pub fn gov_time(&self) -> chrono::DateTime<chrono::Utc> {
        use services::ports::Clock;
        self.clock.now()
    }
}

/// Issue 12 item 10: adding scope to a Live workload (a request on the
/// existing workload) once reset it to Implementing and gave it a new role,
/// and the old role vanished from the handoff. Now it stays Live with its
/// role; the new tasks only add the new model to that role's policy.
pub async fn extending_a_live_workload_keeps_it_live_and_keeps_its_role(w: World) {
    let (po, fl, ce) = (product_owner(), finops_lead(), cloud_engineer());
    let (_, first) = approved(&w, "Support Chatbot").await;
    for t in w.gov.list_tasks(&ce, true).await.expect("tasks") {
        for n in 1..=t.steps.len() {
            w.gov.complete_step(&ce, &t.id, n).await.expect("step");
        }
    }
    let role_arn = format!("arn:aws:iam::111122223333:role/{}", first.role_name);
    w.gov.claim(&po, ClaimInput { workload: first.workload.clone(), kind: ClaimKind::IamRole, arn: role_arn.clone(), claimed_at: None, rationale: None }).await.expect("claim");
    let before = w.gov.get_workload(&po, &first.workload).await.expect("workload");
    assert_eq!(before.status, WorkloadStatus::Live);

    let mut more = draft("Support Chatbot");
    more.target = Target::ExistingWorkload { workload: first.workload.clone() };
    let r = w.gov.create_request(&po, more).await.expect("create");
    w.gov.submit_request(&po, &r.id).await.expect("submit");
    let mut input = approval();
    input.model = domain::ModelId::parse("amazon.nova-lite-v1:0").expect("model");
    let second = w.gov.approve_request(&fl, &r.id, input).await.expect("approve the extension");
    w.pump().await;
    assert_eq!(second.role_name, first.role_name, "the role is kept");
    let during = w.gov.get_workload(&po, &first.workload).await.expect("workload");
    assert_eq!((during.status, during.role_name.as_deref()), (WorkloadStatus::Live, Some(first.role_name.as_str())));
    assert_eq!(during.handoff, before.handoff, "the handoff still names the role");

    let tasks: Vec<_> = w.gov.list_tasks(&ce, true).await.expect("tasks").into_iter().filter(|t| t.request == r.id).collect();
    assert_eq!(tasks.len(), 1);
    let titles: Vec<&str> = tasks[0].steps.iter().map(|s| s.title.as_str()).collect();
    assert!(!titles.iter().any(|t| t.starts_with("Create IAM role")), "the role exists: {titles:?}");
    let commands = tasks[0].steps.iter().flat_map(|s| s.commands.iter()).cloned().collect::<Vec<_>>().join("\n");
    assert!(commands.contains("anthropic.claude-3-haiku") && commands.contains("amazon.nova-lite"), "one policy for both approvals");
    for n in 1..=tasks[0].steps.len() {
        w.gov.complete_step(&ce, &tasks[0].id, n).await.expect("step");
    }
    let after = w.gov.get_workload(&po, &first.workload).await.expect("workload");
    assert_eq!((after.status, after.role_name, after.handoff), (WorkloadStatus::Live, before.role_name, before.handoff));
}

/// Expands every governed-path case into a test for one world. `$make` is an
/// async fn taking `lose_events: bool` and returning a `World`.
#[macro_export]
macro_rules! governed_path_tests {
    ($make:path) => {
        $crate::governed_path_tests!(@cases $make, false;
            the_full_path_from_request_to_live,
            a_duplicate_approval_event_creates_no_second_task_set,
            two_finops_leads_approving_at_once_make_one_approval,
            bad_input_names_the_field_and_stores_nothing,
            separation_of_duties_holds_for_every_persona,
            one_anchor_belongs_to_one_workload_at_a_time,
            a_taken_role_name_is_not_reused,
            extending_a_live_workload_keeps_it_live_and_keeps_its_role
        );
        $crate::governed_path_tests!(@cases $make, true; the_reconciler_repairs_a_lost_approval_event);
    };
    (@cases $make:path, $lose:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::governed_suite::$case($make($lose).await).await;
            }
        )*
    };
}
