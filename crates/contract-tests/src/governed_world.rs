//! A running governance service for tests, in one of two worlds:
//! embedded (redb in memory + the in-process bus, as `finops` runs locally) or
//! AWS (DynamoDB Local + EventBridge on moto, with the routed events read back
//! from an SQS queue and handed to the consumer as Lambda would).

use std::sync::Arc;

use async_trait::async_trait;
use bus_eventbridge::EventBridgeBus;
use bus_local::LocalBus;
use chrono::{TimeZone, Utc};
use domain::governance::catalog::PriceCatalog;
use domain::{Actor, HierarchyNode, Level, NodeId, Persona, UserId};
use services::governance::{Governance, TaskGeneratorHandler, TASK_GENERATOR};
use services::ports::bus::{DomainEvent, EventBus, EventHandler};
use services::ports::store::Store;
use services::ports::{FixedClock, SequentialIds};
use services::routing::ROUTES;
use store_dynamodb::DynamoStore;
use store_embedded::EmbeddedStore;

use crate::emulators::{dynamodb_client, routed_queue, s3_ledger, unique_name};
use fact_ledger::FsLedger;
use services::ports::FactLedger;

#[async_trait]
pub trait Delivery: Send + Sync {
    /// Delivers whatever routed events are waiting to their consumers; returns how many.
    async fn pump(&self) -> usize;
}

pub struct World {
    pub gov: Arc<Governance>,
    pub clock: Arc<FixedClock>,
    pub store: Arc<dyn Store>,
    delivery: Box<dyn Delivery>,
    /// The task generator, for tests that deliver an event by hand (a duplicate).
    pub task_generator: Arc<dyn EventHandler>,
    /// The fact ledger the service writes to (a temporary folder, or a fresh
    /// bucket on moto), for tests that look at its objects.
    pub ledger: Arc<dyn FactLedger>,
    /// Keeps the embedded world's ledger folder alive as long as the world.
    _ledger_dir: Option<tempfile::TempDir>,
    /// moto's IAM, where the AWS world's roles must exist before the kill
    /// switch can act on them; `None` in the embedded world (its enforcer
    /// keeps its own record).
    pub iam: Option<aws_sdk_iam::Client>,
    /// Organizations on moto (the kill switch's SCP); `None` in the embedded world.
    pub org: Option<aws_sdk_organizations::Client>,
    /// The enforcer the service uses, for tests that change IAM by hand.
    pub enforcer: Arc<dyn services::ports::Enforcer>,
}

impl World {
    /// A change made to IAM behind the kill switch's back (drift).
    pub async fn enforce_by_hand(&self, call: domain::governance::enforcement::IamCall) {
        self.enforcer.call(&call).await.expect("a change by hand");
    }

    /// A fresh OU to attach the SCP to: on moto, in the organisation (made
    /// once per emulator run); in the embedded world, a well-formed id.
    pub async fn scp_target(&self) -> domain::governance::enforcement::ScpTarget {
        let Some(org) = &self.org else {
            let n: String = crate::emulators::unique_name("ou").bytes().filter(u8::is_ascii_digit).take(8).map(char::from).collect();
            return domain::governance::enforcement::ScpTarget::parse(&format!("ou-ab12-{n:0>8}")).expect("an OU id");
        };
        match org.create_organization().feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All).send().await {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|s| s.is_already_in_organization_exception()) => {}
            Err(e) => panic!("create organization: {e:?}"),
        }
        let root = org.list_roots().send().await.expect("roots").roots()[0].id().expect("root id").to_owned();
        let ou = org.create_organizational_unit().parent_id(root).name(crate::emulators::unique_name("ou")).send().await.expect("OU");
        domain::governance::enforcement::ScpTarget::parse(ou.organizational_unit().and_then(|o| o.id()).expect("OU id")).expect("an OU id")
    }

    /// Makes sure an IAM role of this name exists where the world's enforcer acts.
    pub async fn ensure_role(&self, name: &str) {
        if let Some(iam) = &self.iam {
            let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
            match iam.create_role().role_name(name).assume_role_policy_document(trust).send().await {
                Ok(_) => {}
                Err(e) if e.as_service_error().is_some_and(|s| s.is_entity_already_exists_exception()) => {}
                Err(e) => panic!("create role {name} on moto: {e:?}"),
            }
        }
    }
}

impl World {
    pub async fn pump(&self) -> usize {
        self.delivery.pump().await
    }
}

pub fn actor(user: &str, persona: Persona, scope: &[&str]) -> Actor {
    Actor::new(UserId::parse(user).expect("user"), persona, scope.iter().map(|s| NodeId::parse(s).expect("node")).collect())
}

pub fn finops_lead() -> Actor {
    actor("fiona@example.com", Persona::FinOpsLead, &["retail"])
}
pub fn product_owner() -> Actor {
    actor("pat@example.com", Persona::ProductOwner, &["assist"])
}
pub fn cloud_engineer() -> Actor {
    actor("casey@example.com", Persona::CloudEngineer, &["retail"])
}

/// E1 retail > E2 digital > E3 assist (and a sibling E3 `payments` outside the PO's scope).
pub fn sample_hierarchy() -> Vec<HierarchyNode> {
    let n = |id: &str, level: Level, parent: Option<&str>| HierarchyNode {
        id: NodeId::parse(id).expect("id"),
        level,
        name: id.to_uppercase(),
        parent: parent.map(|p| NodeId::parse(p).expect("parent")),
    };
    vec![
        n("retail", Level::BusinessUnit, None),
        n("digital", Level::Department, Some("retail")),
        n("assist", Level::Portfolio, Some("digital")),
        n("payments", Level::Portfolio, Some("digital")),
    ]
}

fn governance(store: Arc<dyn Store>, bus: Arc<dyn EventBus>, ledger: Arc<dyn FactLedger>, clock: Arc<FixedClock>, prefix: &str, enforcer: Arc<dyn services::ports::Enforcer>) -> Arc<Governance> {
    Arc::new(
        Governance::new(store, bus, ledger, clock, Arc::new(SequentialIds::new(prefix)), Arc::new(PriceCatalog::bundled().expect("catalogue"))).with_enforcer(enforcer),
    )
}

fn clock() -> Arc<FixedClock> {
    Arc::new(FixedClock::at(Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).single().expect("time")))
}

struct Inline;
#[async_trait]
impl Delivery for Inline {
    async fn pump(&self) -> usize {
        0
    }
}

/// Embedded: redb in memory, the in-process bus. With `lose_events` the task
/// generator is not attached, so approvals' events are lost (dead-lettered).
pub async fn embedded(lose_events: bool) -> World {
    embedded_wrapped(lose_events, |s| s).await
}

/// The embedded world on a store wrapped by `wrap`: for tests that make the
/// store misbehave (fail, or panic) at a chosen moment.
pub async fn embedded_wrapped(lose_events: bool, wrap: impl FnOnce(Arc<dyn Store>) -> Arc<dyn Store>) -> World {
    embedded_on(lose_events, wrap, |e| e).await
}

/// The embedded world with its enforcer wrapped by `wrap_enforcer`: for tests
/// that make IAM fail at a chosen moment.
pub async fn embedded_with_enforcer(wrap_enforcer: impl FnOnce(Arc<dyn services::ports::Enforcer>) -> Arc<dyn services::ports::Enforcer>) -> World {
    embedded_on(false, |s| s, wrap_enforcer).await
}

async fn embedded_on(
    lose_events: bool,
    wrap: impl FnOnce(Arc<dyn Store>) -> Arc<dyn Store>,
    wrap_enforcer: impl FnOnce(Arc<dyn services::ports::Enforcer>) -> Arc<dyn services::ports::Enforcer>,
) -> World {
    let store: Arc<dyn Store> = wrap(Arc::new(EmbeddedStore::in_memory().expect("store")));
    let bus = Arc::new(LocalBus::new(ROUTES));
    let clock = clock();
    let dir = tempfile::tempdir().expect("ledger folder");
    let ledger: Arc<dyn FactLedger> = Arc::new(FsLedger::new(dir.path()));
    let enforcer: Arc<dyn services::ports::Enforcer> = wrap_enforcer(Arc::new(enforcers::LocalEnforcer::new(store.clone())));
    let gov = governance(store.clone(), bus.clone(), ledger.clone(), clock.clone(), "id", enforcer.clone());
    let task_generator: Arc<dyn EventHandler> = Arc::new(TaskGeneratorHandler(gov.clone()));
    if !lose_events {
        bus.register(TASK_GENERATOR, task_generator.clone()).expect("route");
    }
    gov.define_hierarchy(&finops_lead(), sample_hierarchy()).await.expect("hierarchy");
    World { gov, clock, store, delivery: Box::new(Inline), task_generator, ledger, _ledger_dir: Some(dir), iam: None, org: None, enforcer }
}

struct SqsToHandler {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    handler: Arc<dyn EventHandler>,
    lose_events: bool,
}

#[async_trait]
impl Delivery for SqsToHandler {
    async fn pump(&self) -> usize {
        let mut delivered = 0;
        loop {
            let out = self.sqs.receive_message().queue_url(&self.queue_url).max_number_of_messages(10).send().await.expect("receive");
            if out.messages().is_empty() {
                return delivered;
            }
            for m in out.messages() {
                let body: serde_json::Value = serde_json::from_str(m.body().unwrap_or_default()).expect("event");
                let time = chrono::DateTime::parse_from_rfc3339(body["time"].as_str().unwrap_or_default()).expect("time").with_timezone(&Utc);
                let event = DomainEvent::from_delivery(body["detail-type"].as_str().unwrap_or_default(), time, &body["detail"]).expect("envelope");
                if !self.lose_events {
                    self.handler.handle(&event).await.expect("handler");
                    delivered += 1;
                }
                if let Some(h) = m.receipt_handle() {
                    self.sqs.delete_message().queue_url(&self.queue_url).receipt_handle(h).send().await.expect("delete");
                }
            }
        }
    }
}

/// AWS: a fresh DynamoDB Local table, an EventBridge bus on moto whose rules are
/// the routing table's, each targeting an SQS queue that `pump` drains into the
/// consumer (what Lambda's EventBridge trigger does in a stack).
pub async fn aws(lose_events: bool) -> World {
    let table = DynamoStore::new(dynamodb_client().await, unique_name("gov"));
    table.create_table().await.expect("table");
    let store: Arc<dyn Store> = Arc::new(table);
    let routed: Vec<&str> = ROUTES.iter().filter(|r| r.consumer == TASK_GENERATOR).map(|r| r.detail_type).collect();
    let q = routed_queue(&routed).await;
    let bus: Arc<dyn EventBus> = Arc::new(EventBridgeBus::new(q.eventbridge, &q.bus_name));
    let clock = clock();
    let ledger: Arc<dyn FactLedger> = Arc::new(s3_ledger().await);
    let moto = crate::emulators::moto_config().await;
    let enforcer: Arc<dyn services::ports::Enforcer> = Arc::new(enforcers::IamEnforcer::new(moto.clone(), None, enforcers::DEFAULT_EXECUTION_ROLE));
    let gov = governance(store.clone(), bus, ledger.clone(), clock.clone(), "id", enforcer.clone());
    let task_generator: Arc<dyn EventHandler> = Arc::new(TaskGeneratorHandler(gov.clone()));
    gov.define_hierarchy(&finops_lead(), sample_hierarchy()).await.expect("hierarchy");
    let delivery = Box::new(SqsToHandler { sqs: q.sqs, queue_url: q.queue_url, handler: task_generator.clone(), lose_events });
    World { gov, clock, store, delivery, task_generator, ledger, _ledger_dir: None, iam: Some(aws_sdk_iam::Client::new(&moto)), org: Some(aws_sdk_organizations::Client::new(&moto)), enforcer }
}
