//! Weekly spend cards as a service: built every Monday for the previous week
//! (idempotent: a rebuild writes only what changed, and never a settled card),
//! reviewed by the Product Owner, disputes resolved by the FinOps Lead, and the
//! Portfolio Owner's rollup stored once, immutable.

use std::collections::BTreeMap;

use domain::analytics::cards::{late_line, rollup, week_lines, CardError, CardInput, CardLine, CardStatus, Rollup, RollupError, SpendCard, Thresholds};
use domain::cur::facts::Facts;
use domain::governance::authz::Action;
use domain::{Actor, EntityRef, IsoWeek, Level, Money, NodeId, WorkloadId};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{decode, encode, events, get_typed, keys, put_new, put_over, query_index_all, Governance, GovernanceError, Result};
use crate::ports::store::{IndexKey, ItemData, ItemKey, SkRange, StoreError};

/// How many earlier weeks a build looks back at for late CUR data.
pub const LATE_DATA_WEEKS: usize = 5;

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CardsBuilt {
    pub week: String,
    pub built: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Settled cards left exactly as they were.
    pub settled: usize,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisputeInput {
    /// Line ids of the card.
    pub lines: Vec<String>,
    pub reason: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveInput {
    pub rationale: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollupInput {
    #[serde(default)]
    pub rationale: Option<String>,
}

fn cards_pk(week: IsoWeek) -> String {
    format!("CARDS#{week}")
}

pub(crate) fn rollup_key(week: IsoWeek, portfolio: &NodeId) -> ItemKey {
    ItemKey::new(format!("ROLLUP#{week}"), portfolio.as_str())
}

fn card_item(c: &SpendCard) -> Result<ItemData> {
    let item = ItemData::new(ItemKey::new(cards_pk(c.week), c.workload.as_str()), encode(c)?);
    Ok(if c.status == CardStatus::Disputed { item.with_index(IndexKey::new(keys::DISPUTES_INDEX, c.id.as_str())) } else { item })
}

fn entity(id: &str) -> EntityRef {
    EntityRef::new("spend_card", id)
}

fn map_card_error(e: CardError) -> GovernanceError {
    match e {
        CardError::Invalid { field, rule } => GovernanceError::invalid(field, rule),
        e @ CardError::WrongStatus { .. } => GovernanceError::Conflict(e.to_string()),
    }
}

fn parse_card_id(id: &str) -> Option<(IsoWeek, WorkloadId)> {
    let (w, wl) = id.split_once('.')?;
    Some((IsoWeek::parse(w).ok()?, WorkloadId::parse(wl).ok()?))
}

impl Governance {
    pub fn card_thresholds(&self) -> &Thresholds {
        &self.card_thresholds
    }

    async fn facts_of_weeks(&self, weeks: &[IsoWeek]) -> Result<Facts> {
        let mut periods: Vec<_> = weeks.iter().flat_map(|w| w.periods()).collect();
        periods.sort();
        periods.dedup();
        let mut facts = Facts::default();
        for p in periods {
            facts.absorb(self.period_facts(p).await?);
        }
        Ok(facts)
    }

    pub(crate) async fn stored_cards(&self, week: IsoWeek) -> Result<Vec<(SpendCard, u64)>> {
        let items = self.store.query_all(&cards_pk(week), &SkRange::All).await?;
        items.iter().map(|i| Ok((decode(&i.attrs)?, i.version))).collect()
    }

    /// Builds (or rebuilds after late CUR data) the cards of `week` for every
    /// workload claimed by its Sunday. Settled cards are never rewritten; what
    /// late data adds to a settled week goes onto this week's card as a line.
    pub async fn build_cards(&self, week: IsoWeek) -> Result<CardsBuilt> {
        let mut weeks = vec![week];
        for _ in 0..LATE_DATA_WEEKS {
            let earliest = weeks[weeks.len() - 1];
            weeks.push(earliest.previous());
        }
        let facts = self.facts_of_weeks(&weeks).await?;
        let attributor = self.attributor().await?;
        let lines_by_week: BTreeMap<IsoWeek, BTreeMap<WorkloadId, Vec<CardLine>>> =
            weeks.iter().map(|w| (*w, week_lines(*w, &facts, &attributor, &self.catalog))).collect();
        let live = self.week_live_lines(week, &facts, &attributor).await?;
        let mut stored: BTreeMap<IsoWeek, BTreeMap<WorkloadId, (SpendCard, u64)>> = BTreeMap::new();
        for w in &weeks {
            stored.insert(*w, self.stored_cards(*w).await?.into_iter().map(|(c, v)| (c.workload.clone(), (c, v))).collect());
        }
        let mut out = CardsBuilt { week: week.to_string(), ..CardsBuilt::default() };
        let correlation = self.ids.next_id();
        let system = Self::system_actor("spendcard-builder");
        let now = self.clock.now();
        for p in self.workload_profiles().await?.into_values() {
            if p.claimed_since.is_none_or(|d| d > week.sunday()) {
                continue;
            }
            let wid = p.workload.id.clone();
            let current = stored.get(&week).and_then(|m| m.get(&wid));
            if current.is_some_and(|(c, _)| c.is_settled()) {
                out.settled += 1;
                continue;
            }
            let mut lines = lines_by_week.get(&week).and_then(|m| m.get(&wid)).cloned().unwrap_or_default();
            // Late data of earlier settled weeks, oldest first.
            for earlier in weeks.iter().skip(1).rev() {
                let Some((settled, _)) = stored.get(earlier).and_then(|m| m.get(&wid)).filter(|(c, _)| c.is_settled()) else { continue };
                let now_actual: Money = lines_by_week.get(earlier).and_then(|m| m.get(&wid)).map(|ls| ls.iter().map(|l| l.cost).sum()).unwrap_or(Money::ZERO);
                let carried: Money = weeks
                    .iter()
                    .filter(|w| **w > *earlier && **w < week)
                    .filter_map(|w| stored.get(w).and_then(|m| m.get(&wid)))
                    .flat_map(|(c, _)| c.lines.iter().filter(|l| l.late_for == Some(*earlier)).map(|l| l.cost))
                    .sum();
                lines.extend(late_line(settled, now_actual, carried));
            }
            let (monthly, source) = p.estimate().map_or((None, domain::analytics::cards::EstimateSource::None), |(m, s)| (Some(m), s));
            let fresh = SpendCard::build(CardInput {
                week,
                workload: wid.clone(),
                workload_name: &p.workload.name,
                portfolio: p.workload.portfolio.clone(),
                owner: p.workload.owner.clone(),
                monthly_estimate: monthly,
                estimate_source: source,
                lines,
                thresholds: &self.card_thresholds,
                live: domain::analytics::live_vs_billed::week_check(&live, wid.as_str(), week),
                at: now,
            });
            let fresh_flag = fresh.flag;
            let fresh_reason = format!("spend card {week} is critical: {} against {} estimated", fresh.actual.round_cents(), fresh.estimate);
            let ops = match current {
                None => {
                    out.built += 1;
                    let subject = format!("Spend card {week} for {}: {} against {} estimated", fresh.workload_name, fresh.actual.round_cents(), fresh.estimate);
                    vec![
                        put_new(card_item(&fresh)?),
                        self.audit(entity(&fresh.id), "build", (None, Some("Open")), &system, None, &correlation)?,
                        self.inbox_op(&fresh.owner, "spend_card", subject, json!({"card": fresh.id, "flag": fresh.flag}))?,
                    ]
                }
                Some((old, v)) => match old.rebuilt(fresh) {
                    None => {
                        out.unchanged += 1;
                        continue;
                    }
                    Some(next) => {
                        out.updated += 1;
                        let why = if old.lines == next.lines && old.estimate == next.estimate {
                            "the invocation-log estimate changed".to_owned()
                        } else {
                            format!("CUR data changed: actual {} → {}", old.actual, next.actual)
                        };
                        vec![
                            put_over(card_item(&next)?, *v),
                            self.audit(entity(&next.id), "rebuild", (Some(old.status.as_str()), Some(next.status.as_str())), &system, Some(&why), &correlation)?,
                        ]
                    }
                },
            };
            let critical = (fresh_flag == domain::analytics::cards::Flag::Critical).then(|| fresh_reason.clone());
            self.store.transact(ops).await.map_err(|e| match e {
                StoreError::Conflict { .. } => GovernanceError::Conflict(format!("card {week}.{wid} changed while it was built; run the build again")),
                other => other.into(),
            })?;
            // A critical card raises the kill switch's alert (Alerting).
            if let Some(reason) = critical {
                self.raise_alert(&wid, &reason, &correlation, "spendcard-builder").await?;
            }
        }
        if out.built + out.updated > 0 {
            self.publish(vec![self.event(events::SPEND_CARDS_BUILT, &correlation, json!({"week": week, "summary": out}))]).await;
        }
        Ok(out)
    }

    /// The week's cards the caller can see.
    pub async fn cards(&self, actor: &Actor, week: IsoWeek) -> Result<Vec<SpendCard>> {
        let h = self.hierarchy().await?;
        Ok(self
            .stored_cards(week)
            .await?
            .into_iter()
            .map(|(c, _)| c)
            .filter(|c| actor.persona == domain::Persona::System || actor.can_see(&h, &NodeId::from(&c.workload)))
            .collect())
    }

    async fn load_card(&self, actor: &Actor, id: &str) -> Result<(SpendCard, u64)> {
        let not_found = || GovernanceError::NotFound { what: "spend card", id: id.to_owned() };
        let (week, workload) = parse_card_id(id).ok_or_else(not_found)?;
        let (card, v): (SpendCard, u64) = get_typed(self.store.as_ref(), ItemKey::new(cards_pk(week), workload.as_str())).await?.ok_or_else(not_found)?;
        let h = self.hierarchy().await?;
        self.require_scope(actor, &h, &NodeId::from(&card.workload), &entity(id)).await?;
        Ok((card, v))
    }

    pub async fn get_card(&self, actor: &Actor, id: &str) -> Result<SpendCard> {
        Ok(self.load_card(actor, id).await?.0)
    }

    /// Writes a reviewed card with its audit record; `change` is (action, rationale).
    async fn save_card(&self, actor: &Actor, before: CardStatus, card: &SpendCard, version: u64, change: (&str, Option<&str>), extra: Vec<crate::ports::store::WriteOp>) -> Result<String> {
        let (action, rationale) = change;
        let correlation = self.ids.next_id();
        let mut ops = vec![put_over(card_item(card)?, version), self.audit(entity(&card.id), action, (Some(before.as_str()), Some(card.status.as_str())), actor, rationale, &correlation)?];
        ops.extend(extra);
        self.store.transact(ops).await.map_err(|e| match e {
            StoreError::Conflict { .. } => GovernanceError::Conflict(format!("card {} was changed by someone else meanwhile; reload and retry", card.id)),
            other => other.into(),
        })?;
        Ok(correlation)
    }

    /// The Product Owner accepts the card: it is settled and never changes again.
    pub async fn accept_card(&self, actor: &Actor, id: &str) -> Result<SpendCard> {
        self.authorize(actor, Action::ReviewCard, &entity(id)).await?;
        let (mut card, v) = self.load_card(actor, id).await?;
        self.owner_reviews(actor, &card).await?;
        let before = card.status;
        card.accept().map_err(map_card_error)?;
        self.save_card(actor, before, &card, v, ("accept", None), vec![]).await?;
        Ok(card)
    }

    /// The Product Owner disputes named lines; the card joins the FinOps Lead's queue.
    pub async fn dispute_card(&self, actor: &Actor, id: &str, input: DisputeInput) -> Result<SpendCard> {
        self.authorize(actor, Action::ReviewCard, &entity(id)).await?;
        let (mut card, v) = self.load_card(actor, id).await?;
        self.owner_reviews(actor, &card).await?;
        let before = card.status;
        card.dispute(input.lines.clone(), &input.reason, actor, self.clock.now()).map_err(map_card_error)?;
        let correlation = self.save_card(actor, before, &card, v, ("dispute", Some(input.reason.trim())), vec![]).await?;
        self.publish(vec![self.event(events::SPEND_CARD_DISPUTED, &correlation, json!({"card": card.id, "lines": input.lines, "reason": input.reason.trim()}))]).await;
        Ok(card)
    }

    /// A card is accepted or disputed by its workload's owner only: another
    /// Product Owner in scope may read it, not settle it (a dispute is the
    /// FinOps Lead's to resolve). A refusal is audited.
    async fn owner_reviews(&self, actor: &Actor, card: &SpendCard) -> Result<()> {
        if card.owner == actor.user {
            return Ok(());
        }
        let reason = format!("only the workload's owner ({}) accepts or disputes card {}", card.owner, card.id);
        Err(self.audit_refusal(actor, &entity(&card.id), "ReviewCard", &reason).await)
    }

    /// The FinOps Lead's queue: disputed cards waiting for a resolution.
    pub async fn disputed_cards(&self, actor: &Actor) -> Result<Vec<SpendCard>> {
        self.authorize(actor, Action::ResolveDispute, &EntityRef::new("spend_card", "disputes")).await?;
        let h = self.hierarchy().await?;
        let cards: Vec<SpendCard> = query_index_all(self.store.as_ref(), keys::DISPUTES_INDEX).await?.iter().map(|i| decode(&i.attrs)).collect::<Result<_>>()?;
        Ok(cards.into_iter().filter(|c| actor.can_see(&h, &NodeId::from(&c.workload))).collect())
    }

    /// The FinOps Lead resolves a dispute; the card is settled; the owner is told.
    pub async fn resolve_dispute(&self, actor: &Actor, id: &str, input: ResolveInput) -> Result<SpendCard> {
        self.authorize(actor, Action::ResolveDispute, &entity(id)).await?;
        let (mut card, v) = self.load_card(actor, id).await?;
        let before = card.status;
        card.resolve(&input.rationale, actor, self.clock.now()).map_err(map_card_error)?;
        let note = self.inbox_op(&card.owner, "dispute_resolved", format!("Your dispute of card {} was resolved", card.id), json!({"card": card.id, "rationale": input.rationale.trim()}))?;
        self.save_card(actor, before, &card, v, ("resolve", Some(input.rationale.trim())), vec![note]).await?;
        Ok(card)
    }

    /// The Portfolio Owner approves the week's rollup once every card of the
    /// portfolio is settled. Stored once (must-not-exist): the chargeback record.
    pub async fn approve_rollup(&self, actor: &Actor, portfolio: &NodeId, week: IsoWeek, input: RollupInput) -> Result<Rollup> {
        let e = EntityRef::new("rollup", format!("{week}.{portfolio}"));
        self.authorize(actor, Action::ApproveRollup, &e).await?;
        let h = self.hierarchy().await?;
        match h.node(portfolio) {
            Some(n) if n.level == Level::Portfolio => {}
            Some(n) => return Err(GovernanceError::invalid("portfolio", format!("{portfolio} is {}, not an E3 Portfolio", n.level))),
            None => return Err(GovernanceError::NotFound { what: "portfolio", id: portfolio.to_string() }),
        }
        self.require_scope(actor, &h, portfolio, &e).await?;
        let cards: Vec<SpendCard> = self.stored_cards(week).await?.into_iter().map(|(c, _)| c).filter(|c| &c.portfolio == portfolio).collect();
        let r = rollup(portfolio.clone(), week, &cards, actor, self.clock.now(), input.rationale.clone()).map_err(|err| match err {
            RollupError::NoCards(_) | RollupError::Unsettled(_) => GovernanceError::Conflict(err.to_string()),
        })?;
        let correlation = self.ids.next_id();
        self.store
            .transact(vec![put_new(ItemData::new(rollup_key(week, portfolio), encode(&r)?)), self.audit(e, "approve", (None, Some("Approved")), actor, input.rationale.as_deref(), &correlation)?])
            .await
            .map_err(|err| match err {
                StoreError::Conflict { .. } => GovernanceError::Conflict(format!("the {week} rollup of {portfolio} is already approved; an approved rollup never changes")),
                other => other.into(),
            })?;
        self.publish(vec![self.event(events::ROLLUP_APPROVED, &correlation, json!({"portfolio": portfolio, "week": week, "chargeback": r.chargeback}))]).await;
        Ok(r)
    }

    pub async fn get_rollup(&self, actor: &Actor, portfolio: &NodeId, week: IsoWeek) -> Result<Rollup> {
        let h = self.hierarchy().await?;
        self.require_scope(actor, &h, portfolio, &EntityRef::new("rollup", format!("{week}.{portfolio}"))).await?;
        get_typed(self.store.as_ref(), rollup_key(week, portfolio))
            .await?
            .map(|(r, _)| r)
            .ok_or_else(|| GovernanceError::NotFound { what: "rollup", id: format!("{week}.{portfolio}") })
    }
}
