//! Facts: CUR rows aggregated to what attribution and reports need, and the
//! attribution report computed from them.
//!
//! Facts carry no attribution: claims change after the fact (a claim added later
//! attributes from its claim date), so attribution is applied when a report is
//! made. Sums are exact decimals, so the report's parts add up to its totals to
//! the last digit, not merely to the cent.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::num::NonZeroU32;

use super::append_map::AppendMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::attribution::{AiLine, Attributor, Outcome, Prepared, Reason};
use super::bases::{allocate, is_discount, BasisSums, BasisUnavailable, CostBasis};
use super::usage_type::{decode, Usage};
use crate::ids::{AccountId, NodeId, WorkloadId};
use crate::money::Money;
use crate::period::BillingPeriod;

/// Product codes whose rows are AI spend.
pub const AI_PRODUCT_CODES: &[&str] = &["AmazonBedrock", "AmazonBedrockService", "AmazonBedrockFoundationModels", "AmazonBedrockAgentCore"];

/// Whether a row is AI spend: a Bedrock product code, a Marketplace model sold
/// through Bedrock ("… (Amazon Bedrock Edition)"), or Claude Platform CCU.
pub fn is_ai_row(product_code: &str, billing_entity: &str, product_name: &str) -> bool {
    AI_PRODUCT_CODES.contains(&product_code)
        || (billing_entity == "AWS Marketplace" && product_name.ends_with("(Amazon Bedrock Edition)"))
        || (billing_entity == "AWS Marketplace" && product_name.starts_with("Claude Platform"))
}

/// One CUR row, as a reader hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurRow {
    pub usage_day: NaiveDate,
    pub account: AccountId,
    pub product_code: String,
    pub billing_entity: String,
    pub product_name: String,
    pub usage_type: String,
    pub operation: String,
    pub line_item_type: String,
    pub resource_id: Option<String>,
    /// `None` when the file has no `line_item_iam_principal` column.
    pub principal: Option<String>,
    pub workspace: Option<String>,
    pub usage_amount: Decimal,
    pub cost: Decimal,
}

/// The aggregation key of AI facts, borrowed from the facts that hold it.
/// Field order is the canonical sort order (day first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FactRef<'a> {
    pub usage_day: NaiveDate,
    pub account: &'a AccountId,
    pub product_code: &'a str,
    pub usage_type: &'a str,
    pub operation: &'a str,
    pub line_item_type: &'a str,
    pub resource_id: Option<&'a str>,
    /// `None` when the file had no principal column; `Some("")` for an empty cell.
    pub principal: Option<&'a str>,
    pub workspace: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FactValue {
    pub usage_amount: Decimal,
    /// The cost on the facts' basis: unblended as read, another basis after
    /// [`Facts::on_basis`] swapped it in.
    pub cost: Money,
    pub rows: u64,
    /// `line_item_net_unblended_cost` (unblended where the cell is empty:
    /// no discount applied).
    pub net: Money,
    /// The amortized cost ([`super::bases::amortized_cost`]).
    pub amortized: Money,
    /// `pricing_public_on_demand_cost`: the usage at public prices (FOCUS's
    /// ListCost); unblended where the cell is empty.
    pub list: Money,
}

impl FactValue {
    /// One row's value, every basis equal to its unblended cost (a source
    /// that carries no other basis).
    pub fn flat(usage_amount: Decimal, cost: Money) -> FactValue {
        FactValue { usage_amount, cost, rows: 1, net: cost, amortized: cost, list: cost }
    }

    /// One row's value with its costs on the other bases.
    pub fn of_row(usage_amount: Decimal, cost: Money, costs: &RowCosts) -> FactValue {
        FactValue { usage_amount, cost, rows: 1, net: Money::new(costs.net), amortized: Money::new(costs.amortized), list: Money::new(costs.list) }
    }

    fn add(&mut self, v: &FactValue) {
        self.usage_amount += v.usage_amount;
        self.cost += v.cost;
        self.rows += v.rows;
        self.net += v.net;
        self.amortized += v.amortized;
        self.list += v.list;
    }
}

/// A row's costs on the bases beside unblended, as a reader computed them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowCosts {
    pub net: Decimal,
    pub amortized: Decimal,
    pub list: Decimal,
}

/// An interned string: its place in a [`Facts`]' dictionary, plus one so that
/// `Option<Sym>` costs no more than a `Sym`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Sym(NonZeroU32);

/// Values stored once each, referred to by number: a large estate's month has
/// ~1M facts but only thousands of distinct principals, usage types and
/// accounts, so keys of numbers keep a fact at ~80 bytes whatever its strings.
#[derive(Debug, Clone)]
struct Interner<T> {
    values: Vec<T>,
    index: HashMap<T, Sym, FastHash>,
}

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Interner { values: Vec::new(), index: HashMap::default() }
    }
}

impl<T: Hash + Eq + Clone> Interner<T> {
    fn intern<Q>(&mut self, v: &Q, own: fn(&Q) -> T) -> Sym
    where
        T: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some(s) = self.index.get(v) {
            return *s;
        }
        self.values.push(own(v));
        // More than 4 billion distinct strings in one month of facts cannot be
        // held in memory anyway; saturate rather than wrap.
        let n = u32::try_from(self.values.len()).unwrap_or(u32::MAX);
        let sym = Sym(NonZeroU32::MIN.saturating_add(n - 1));
        self.index.insert(own(v), sym);
        sym
    }

    fn get(&self, s: Sym) -> &T {
        &self.values[(s.0.get() - 1) as usize]
    }
}

type FastHash = foldhash::fast::RandomState;

/// A fact's key in numbers (see [`Interner`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    usage_day: NaiveDate,
    account: Sym,
    product_code: Sym,
    usage_type: Sym,
    operation: Sym,
    line_item_type: Sym,
    resource_id: Option<Sym>,
    principal: Option<Sym>,
    workspace: Option<Sym>,
}

impl Key {
    fn of(key: InternedKey) -> Key {
        Key {
            usage_day: key.usage_day,
            account: key.account.0,
            product_code: key.product_code.0,
            usage_type: key.usage_type.0,
            operation: key.operation.0,
            line_item_type: key.line_item_type.0,
            resource_id: key.resource_id.map(|x| x.0),
            principal: key.principal.map(|x| x.0),
            workspace: key.workspace.map(|x| x.0),
        }
    }
}

/// Facts of one source (one CUR object) or of many merged.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    strings: Interner<Box<str>>,
    accounts: Interner<AccountId>,
    /// In insertion order, so every pass over the facts (and what takes the
    /// first fact it meets, like a gap's context) is deterministic: a ledger
    /// object is read in canonical order, and sources are merged in manifest order.
    ai: AppendMap<Key, FactValue, FastHash>,
    /// Set once a fact was added by lookup: until then every fact was
    /// appended in strictly ascending canonical order (see
    /// [`Facts::add_interned_canonical`]), so all of them are distinct.
    unordered: bool,
    /// Everything that is not AI spend, per account (for reconciliation).
    pub non_ai: BTreeMap<AccountId, Money>,
    /// The cost of every row the reader read, per account, AI or not, in the
    /// period or not, summed as the rows went by and apart from the facts: the
    /// bill reconciliation compares its parts against.
    pub read_total: BTreeMap<AccountId, Money>,
    /// `non_ai` and `read_total` on the net basis (or the column it lacks).
    pub net: BasisSums,
    /// `non_ai` and `read_total` on the amortized basis.
    pub amortized: BasisSums,
    /// The basis `cost`, `non_ai` and `read_total` are on.
    pub basis: CostBasis,
    /// The payer accounts (`bill_payer_account_id`) of the AI rows: the
    /// billing account an export names (one per CUR export, as a rule).
    pub payers: std::collections::BTreeSet<AccountId>,
}

impl PartialEq for Facts {
    /// The same facts, whatever order they were interned in.
    fn eq(&self, other: &Facts) -> bool {
        self.non_ai == other.non_ai
            && self.read_total == other.read_total
            && self.net == other.net
            && self.amortized == other.amortized
            && self.len() == other.len() && self.sorted() == other.sorted()
    }
}
impl Eq for Facts {}

impl Facts {
    /// One row: AI rows become facts, the rest add to their account's non-AI
    /// cost; every row adds to the read total.
    pub fn add(&mut self, row: CurRow) {
        let flat = RowCosts { net: row.cost, amortized: row.cost, list: row.cost };
        self.add_costed(row, flat);
    }

    /// One row with its costs on the other bases.
    pub fn add_costed(&mut self, row: CurRow, costs: RowCosts) {
        let cost = Money::new(row.cost);
        *self.read_total.entry(row.account.clone()).or_default() += cost;
        *self.net.read_total.entry(row.account.clone()).or_default() += Money::new(costs.net);
        *self.amortized.read_total.entry(row.account.clone()).or_default() += Money::new(costs.amortized);
        if !is_ai_row(&row.product_code, &row.billing_entity, &row.product_name) {
            self.add_non_ai(&row.account, cost, &costs);
            return;
        }
        let key = FactRef {
            usage_day: row.usage_day,
            account: &row.account,
            product_code: &row.product_code,
            usage_type: &row.usage_type,
            operation: &row.operation,
            line_item_type: &row.line_item_type,
            resource_id: row.resource_id.as_deref().filter(|r| !r.is_empty()),
            principal: row.principal.as_deref(),
            workspace: row.workspace.as_deref(),
        };
        self.add_fact(key, FactValue::of_row(row.usage_amount, cost, &costs));
    }

    /// A row that is not AI spend: its cost adds to its account's non-AI
    /// cost on every basis (the read totals are the reader's business).
    pub fn add_non_ai(&mut self, account: &AccountId, cost: Money, costs: &RowCosts) {
        *self.non_ai.entry(account.clone()).or_default() += cost;
        *self.net.non_ai.entry(account.clone()).or_default() += Money::new(costs.net);
        *self.amortized.non_ai.entry(account.clone()).or_default() += Money::new(costs.amortized);
    }

    /// Adds one aggregated fact (an AI row, another source's fact, or a stored
    /// one), interning its strings. It does not touch the read total: the
    /// reader that read the row adds to that.
    pub fn add_fact(&mut self, key: FactRef<'_>, value: FactValue) {
        let mut s = |v: &str| self.strings.intern(v, |v: &str| Box::from(v));
        let k = Key {
            usage_day: key.usage_day,
            account: Sym(NonZeroU32::MIN),
            product_code: s(key.product_code),
            usage_type: s(key.usage_type),
            operation: s(key.operation),
            line_item_type: s(key.line_item_type),
            resource_id: key.resource_id.map(&mut s),
            principal: key.principal.map(&mut s),
            workspace: key.workspace.map(&mut s),
        };
        let k = Key { account: self.accounts.intern(key.account, AccountId::clone), ..k };
        self.put(k, value);
    }

    /// A string's place in these facts' dictionary, for a reader that meets
    /// each distinct value once (a Parquet dictionary) and would otherwise
    /// hash the same string for every row.
    pub fn intern_str(&mut self, s: &str) -> StrId {
        StrId(self.strings.intern(s, |v: &str| Box::from(v)))
    }

    /// An account's place in these facts' account dictionary.
    pub fn intern_account(&mut self, a: &AccountId) -> AcctId {
        AcctId(self.accounts.intern(a, AccountId::clone))
    }

    /// Adds one fact whose strings were interned in these facts
    /// ([`Facts::intern_str`], [`Facts::intern_account`]).
    pub fn add_interned(&mut self, key: InternedKey, value: FactValue) {
        self.put(Key::of(key), value);
    }

    /// Hashes keys as these facts' lookup index does, apart from them (see
    /// [`Facts::add_batch`]).
    pub fn key_hasher(&self) -> KeyHasher {
        KeyHasher(self.ai.hasher().clone())
    }

    /// Adds a batch of facts whose strings were interned in these facts,
    /// hashed and ordered by [`KeyHasher::batch`] apart from them: several
    /// reader threads share one `Facts` behind a lock, and a batch added in
    /// the order of its places in the index touches the index in ascending
    /// addresses, which the CPU fetches ahead instead of missing its cache
    /// at every fact of a large month. A batch hashed by another `Facts`'
    /// hasher (checked on its first key) is added one fact at a time in its
    /// own order: the facts are the same either way.
    pub fn add_batch(&mut self, batch: HashedBatch) {
        self.unordered = true;
        let ours = batch.items.first().is_none_or(|(h, _, k, _)| self.ai.hash(*k) == *h);
        if ours {
            self.ai.upsert_batch(&batch.items, |a, b| a.add(&b));
        } else {
            let mut items = batch.items;
            items.sort_unstable_by_key(|(_, place, ..)| *place);
            for (_, _, k, v) in items {
                self.put(k, v);
            }
        }
    }

    /// Folds a value into its fact. A new fact takes the value as it is:
    /// adding it to zeros costs five decimal additions per fact, which a
    /// month of a million distinct facts pays a million times.
    fn put(&mut self, k: Key, value: FactValue) {
        self.unordered = true;
        self.ai.upsert(k, value, |v, value| v.add(&value));
    }

    /// [`Facts::add_interned`] for a reader of facts stored in canonical
    /// order (a ledger object: one row per fact, sorted as
    /// [`Facts::columns`] sorts). While each key is greater than the one
    /// before, it cannot be among them, and it is appended without a lookup;
    /// a key out of order (a file this codec did not write) falls back to
    /// the lookup, so the facts are right either way.
    pub fn add_interned_canonical(&mut self, key: InternedKey, value: FactValue) {
        let k = Key::of(key);
        let ascending = !self.unordered && self.ai.last().is_none_or(|(last, _)| self.canonical_cmp(last, &k).is_lt());
        if ascending {
            self.ai.push_distinct(k, value);
        } else {
            self.put(k, value);
        }
    }

    /// The canonical order of two keys (that of [`FactCodes`]: by day, then
    /// by each field's text), comparing text only where the symbols differ.
    fn canonical_cmp(&self, a: &Key, b: &Key) -> std::cmp::Ordering {
        let s = |x: Sym, y: Sym| if x == y { std::cmp::Ordering::Equal } else { self.strings.get(x).cmp(self.strings.get(y)) };
        let o = |x: Option<Sym>, y: Option<Sym>| match (x, y) {
            (Some(x), Some(y)) => s(x, y),
            _ => x.is_some().cmp(&y.is_some()),
        };
        a.usage_day
            .cmp(&b.usage_day)
            .then_with(|| if a.account == b.account { std::cmp::Ordering::Equal } else { self.accounts.get(a.account).cmp(self.accounts.get(b.account)) })
            .then_with(|| s(a.product_code, b.product_code))
            .then_with(|| s(a.usage_type, b.usage_type))
            .then_with(|| s(a.operation, b.operation))
            .then_with(|| s(a.line_item_type, b.line_item_type))
            .then_with(|| o(a.resource_id, b.resource_id))
            .then_with(|| o(a.principal, b.principal))
            .then_with(|| o(a.workspace, b.workspace))
    }

    /// Adds another source's facts (a month is the merge of its files' facts).
    /// Each of the other's distinct strings is interned here once, and its
    /// facts' keys are translated number by number: a million facts are
    /// merged without hashing a string per fact.
    pub fn merge(&mut self, other: &Facts) {
        let strings: Vec<Sym> = other.strings.values.iter().map(|v| self.strings.intern(&**v, |v: &str| Box::from(v))).collect();
        let accounts: Vec<Sym> = other.accounts.values.iter().map(|a| self.accounts.intern(a, AccountId::clone)).collect();
        let s = |x: Sym| strings[(x.0.get() - 1) as usize];
        self.ai.reserve(other.ai.len());
        for (k, v) in other.ai.iter() {
            let key = Key {
                usage_day: k.usage_day,
                account: accounts[(k.account.0.get() - 1) as usize],
                product_code: s(k.product_code),
                usage_type: s(k.usage_type),
                operation: s(k.operation),
                line_item_type: s(k.line_item_type),
                resource_id: k.resource_id.map(s),
                principal: k.principal.map(s),
                workspace: k.workspace.map(s),
            };
            self.put(key, *v);
        }
        for (a, m) in &other.non_ai {
            *self.non_ai.entry(a.clone()).or_default() += *m;
        }
        for (a, m) in &other.read_total {
            *self.read_total.entry(a.clone()).or_default() += *m;
        }
        self.net.absorb(&other.net);
        self.amortized.absorb(&other.amortized);
        self.payers.extend(other.payers.iter().cloned());
    }

    /// The same facts on another basis: each fact's cost, the non-AI costs and
    /// the read totals become that basis's, so every report computed from the
    /// result (attribution, reconciliation, rollup, legacy split, gaps) is on
    /// that basis and its parts still add up exactly. Refused, naming the
    /// column, when a source lacked what the basis needs.
    pub fn on_basis(mut self, basis: CostBasis) -> Result<Facts, BasisUnavailable> {
        let sums = match basis {
            _ if basis == self.basis => return Ok(self),
            CostBasis::Unblended => return Err(BasisUnavailable { basis, column: format!("line_item_unblended_cost (these facts are already on the {} basis)", self.basis) }),
            CostBasis::Net => std::mem::take(&mut self.net),
            CostBasis::Amortized => std::mem::take(&mut self.amortized),
        };
        if let Some(column) = sums.missing {
            return Err(BasisUnavailable { basis, column });
        }
        for v in self.ai.values_mut() {
            v.cost = if basis == CostBasis::Net { v.net } else { v.amortized };
        }
        self.non_ai = sums.non_ai;
        self.read_total = sums.read_total;
        self.basis = basis;
        Ok(self)
    }

    /// The AI facts alone, with no totals: what a ledger object holds of
    /// them (its manifest carries the totals), so facts just written can
    /// stand in for reading the object back. Their lookup index is freed
    /// too, as a decoded object has none until a lookup builds it: on a
    /// large month that is ten MB at the peak of the detection they feed.
    pub fn ai_only(mut self) -> Facts {
        self.forget_index();
        Facts { strings: self.strings, accounts: self.accounts, ai: self.ai, unordered: self.unordered, ..Facts::default() }
    }

    /// Room for about `total` facts in all, where a reader can foresee how
    /// many a file will make: the lookup index then grows once instead of
    /// doubling its way there, and each doubling hashed every fact again, a
    /// cache miss apiece on a large month. Only the index is sized (five bytes
    /// a fact); the facts themselves still take memory as they come.
    pub fn expect(&mut self, total: usize) {
        self.ai.reserve(total.saturating_sub(self.len()));
    }

    /// Frees the lookup index; a later lookup builds it again. A reader's
    /// facts are only iterated once the file is read (sorted, encoded,
    /// detected over), and on a large month the index is 5–10 MB at the
    /// encoder's peak.
    pub fn forget_index(&mut self) {
        self.ai.forget_index();
    }

    /// CUR rows behind the AI facts.
    pub fn ai_rows(&self) -> u64 {
        self.ai.values().map(|v| v.rows).sum()
    }

    /// Keeps only the AI facts `keep` accepts (totals are left as read).
    pub fn retain(&mut self, mut keep: impl FnMut(FactRef<'_>, &FactValue) -> bool) {
        let (strings, accounts) = (&self.strings, &self.accounts);
        self.ai.retain(|k, v| keep(resolve(strings, accounts, k), v));
    }

    /// Takes another source's facts in, merging the smaller side into the
    /// larger: re-interning a million facts costs more than the report that
    /// reads them, so the larger side is never copied.
    pub fn absorb(&mut self, mut other: Facts) {
        if other.len() > self.len() {
            std::mem::swap(self, &mut other);
        }
        self.merge(&other);
    }

    /// Distinct AI facts.
    pub fn len(&self) -> usize {
        self.ai.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ai.is_empty()
    }

    fn resolve(&self, k: &Key) -> FactRef<'_> {
        resolve(&self.strings, &self.accounts, k)
    }

    /// Every AI fact, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (FactRef<'_>, &FactValue)> + '_ {
        self.ai.iter().map(|(k, v)| (self.resolve(k), v))
    }

    /// Every AI fact's value, in the order they are stored: a pass over the
    /// values alone (an encoder's column scales) reads memory in sequence
    /// instead of chasing a sorted order's pointers.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &FactValue> + '_ {
        self.ai.values()
    }

    /// Every AI fact in canonical order (by key, day first): the same facts
    /// give the same sequence however they were read, so a file written in
    /// this order has a stable digest.
    pub fn sorted(&self) -> Vec<(FactRef<'_>, &FactValue)> {
        let c = self.columns();
        let s = |i: u32| c.strings[i as usize];
        c.facts
            .iter()
            .map(|(k, v)| {
                let fields = [k.product_code, k.usage_type, k.operation, k.line_item_type];
                (fact_ref(k.usage_day, c.accounts[k.account as usize], fields, [k.resource_id.get(), k.principal.get(), k.workspace.get()], s), *v)
            })
            .collect()
    }

    /// The facts as a columnar writer wants them: both dictionaries sorted,
    /// every fact's key as positions in them, and the facts in canonical
    /// order. Renumbering the dictionaries in sorted order first makes every
    /// comparison of the sort one of plain integers.
    pub fn columns(&self) -> Columns<'_> {
        let canonical = self.canonical();
        let facts = canonical.runs(usize::MAX).next().unwrap_or_default();
        let Canonical { strings, accounts, .. } = canonical;
        Columns { strings, accounts, facts }
    }

    /// [`Facts::columns`] a run at a time: the dictionaries sorted now, the
    /// facts sorted a day at a time as the runs are taken (the day comes
    /// first in canonical order). A large month's whole sorted order was a
    /// million keys, 43 MB at the encoder's peak; a day's is a thirtieth, and
    /// its sort stays in cache.
    pub fn canonical(&self) -> Canonical<'_> {
        fn sorted_order<T: Ord + ?Sized>(values: &[&T]) -> (Vec<usize>, Vec<u32>) {
            let mut order: Vec<usize> = (0..values.len()).collect();
            order.sort_unstable_by(|a, b| values[*a].cmp(values[*b]));
            let mut rank = vec![0u32; values.len()];
            for (r, i) in order.iter().enumerate() {
                rank[*i] = u32::try_from(r).unwrap_or(u32::MAX);
            }
            (order, rank)
        }
        let strings: Vec<&str> = self.strings.values.iter().map(|s| &**s).collect();
        let accounts: Vec<&AccountId> = self.accounts.values.iter().collect();
        let (s_order, s_rank) = sorted_order(&strings);
        let (a_order, a_rank) = sorted_order(&accounts);
        // Each day's facts by their place in the table, counted first so
        // that every day's list is allocated once at its size. A reader
        // adds a row group's facts together and a row group holds a few
        // days, so the day of the fact before is nearly always this one's:
        // asked first, it spares a search per fact.
        let mut counts: BTreeMap<NaiveDate, usize> = BTreeMap::new();
        let mut run: Option<(NaiveDate, usize)> = None;
        for (k, _) in self.ai.iter() {
            match &mut run {
                Some((day, n)) if *day == k.usage_day => *n += 1,
                _ => {
                    if let Some((day, n)) = run.replace((k.usage_day, 1)) {
                        *counts.entry(day).or_default() += n;
                    }
                }
            }
        }
        if let Some((day, n)) = run {
            *counts.entry(day).or_default() += n;
        }
        let order: Vec<NaiveDate> = counts.keys().copied().collect();
        let mut days: Vec<(NaiveDate, Vec<u32>)> = counts.iter().map(|(day, n)| (*day, Vec::with_capacity(*n))).collect();
        let mut last: Option<(NaiveDate, usize)> = None;
        for (i, (k, _)) in self.ai.iter().enumerate() {
            let d = match last {
                Some((day, d)) if day == k.usage_day => Some(d),
                _ => order.binary_search(&k.usage_day).ok(),
            };
            if let Some(d) = d {
                last = Some((k.usage_day, d));
                days[d].1.push(u32::try_from(i).unwrap_or(u32::MAX));
            }
        }
        Canonical {
            packing: Packing::of(accounts.len(), strings.len()),
            strings: s_order.iter().map(|i| strings[*i]).collect(),
            accounts: a_order.iter().map(|i| accounts[*i]).collect(),
            facts: self,
            s_rank,
            a_rank,
            days,
        }
    }
}

/// [`Facts::canonical`]: the sorted dictionaries, and the facts grouped by
/// day, to be sorted as they are taken.
#[derive(Debug)]
pub struct Canonical<'a> {
    pub strings: Vec<&'a str>,
    pub accounts: Vec<&'a AccountId>,
    facts: &'a Facts,
    s_rank: Vec<u32>,
    a_rank: Vec<u32>,
    /// Each day and its facts (their places in the table), the days in order.
    days: Vec<(NaiveDate, Vec<u32>)>,
    /// How a day's codes pack into one integer, where they fit.
    packing: Option<Packing>,
}

impl<'a> Canonical<'a> {
    /// The facts in canonical order, `rows` at a time (the last run may
    /// hold fewer); the runs are the canonical order cut every `rows`
    /// facts, whatever the days.
    pub fn runs(&self, rows: usize) -> Runs<'_, 'a> {
        Runs { canonical: self, rows: rows.max(1), next_day: 0, day: Vec::new().into_iter() }
    }

    /// One day's facts, sorted: as packed integers where the dictionaries
    /// are small enough ([`Packing`]), else by their codes.
    fn sorted_day(&self, day: NaiveDate, places: &[u32]) -> Vec<(FactCodes, &'a FactValue)> {
        self.sorted_day_with(self.packing, day, places)
    }

    fn sorted_day_with(&self, packing: Option<Packing>, day: NaiveDate, places: &[u32]) -> Vec<(FactCodes, &'a FactValue)> {
        let r = |x: Sym| self.s_rank[(x.0.get() - 1) as usize];
        let codes = places
            .iter()
            .filter_map(|i| self.facts.ai.at(*i))
            .map(|(k, v)| {
                let codes = FactCodes {
                    usage_day: k.usage_day,
                    account: self.a_rank[(k.account.0.get() - 1) as usize],
                    product_code: r(k.product_code),
                    usage_type: r(k.usage_type),
                    operation: r(k.operation),
                    line_item_type: r(k.line_item_type),
                    resource_id: OptRank::of(k.resource_id.map(r)),
                    principal: OptRank::of(k.principal.map(r)),
                    workspace: OptRank::of(k.workspace.map(r)),
                };
                (codes, v)
            });
        // Codes first, packed after: the loop that reads the facts (cache
        // misses, scattered across the table) stays short enough that the
        // CPU has many reads in flight; with the packing in it the same
        // reads took twice as long.
        let codes: Vec<(FactCodes, &'a FactValue)> = codes.collect();
        match packing {
            Some(p) => {
                let mut packed: Vec<(u128, &'a FactValue)> = codes.into_iter().map(|(c, v)| (p.pack(&c), v)).collect();
                packed.sort_unstable_by_key(|(k, _)| *k);
                packed.into_iter().map(|(k, v)| (p.unpack(day, k), v)).collect()
            }
            None => {
                let mut facts = codes;
                facts.sort_unstable_by_key(|(k, _)| *k);
                facts
            }
        }
    }
}

/// A day's [`FactCodes`] as one `u128` that orders as they do: the
/// account's rank, the four required strings' ranks, then the three
/// optional ones', most significant first, each in just the bits its
/// dictionary needs. Sorting a large month's days by these integers was
/// what kept the encoder's feeding thread busy: comparing nine fields, a
/// field at a time, in each of ~13 million comparisons (a million facts,
/// ~29,000 a day). A month whose
/// dictionaries are too large to fit (over ~130,000 strings) sorts by the
/// codes instead; the order is the same.
#[derive(Debug, Clone, Copy)]
struct Packing {
    account: u32,
    string: u32,
    optional: u32,
}

impl Packing {
    fn of(accounts: usize, strings: usize) -> Option<Packing> {
        /// Bits that hold every value up to `max`.
        fn bits(max: usize) -> u32 {
            usize::BITS - max.leading_zeros()
        }
        // Ranks run below the dictionary's length; an optional rank is one
        // more (0: absent).
        let p = Packing { account: bits(accounts.saturating_sub(1)), string: bits(strings.saturating_sub(1)), optional: bits(strings) };
        (p.account + 4 * p.string + 3 * p.optional <= u128::BITS).then_some(p)
    }

    fn pack(self, c: &FactCodes) -> u128 {
        let fields = [
            (c.account, self.account),
            (c.product_code, self.string),
            (c.usage_type, self.string),
            (c.operation, self.string),
            (c.line_item_type, self.string),
            (c.resource_id.0, self.optional),
            (c.principal.0, self.optional),
            (c.workspace.0, self.optional),
        ];
        fields.iter().fold(0u128, |k, (v, bits)| (k << bits) | u128::from(*v))
    }

    fn unpack(self, usage_day: NaiveDate, mut k: u128) -> FactCodes {
        let mut take = |bits: u32| {
            let v = k & ((1u128 << bits) - 1);
            k >>= bits;
            // At most 32 bits were put in (`pack`).
            u32::try_from(v).unwrap_or(u32::MAX)
        };
        let (workspace, principal, resource_id) = (OptRank(take(self.optional)), OptRank(take(self.optional)), OptRank(take(self.optional)));
        let (line_item_type, operation, usage_type, product_code) = (take(self.string), take(self.string), take(self.string), take(self.string));
        FactCodes { usage_day, account: take(self.account), product_code, usage_type, operation, line_item_type, resource_id, principal, workspace }
    }
}

/// [`Canonical::runs`].
pub struct Runs<'c, 'a> {
    canonical: &'c Canonical<'a>,
    rows: usize,
    next_day: usize,
    /// What is left of the day being cut into runs.
    day: std::vec::IntoIter<(FactCodes, &'a FactValue)>,
}

impl<'a> Iterator for Runs<'_, 'a> {
    type Item = Vec<(FactCodes, &'a FactValue)>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut run = Vec::with_capacity(self.rows.min(self.canonical.facts.len()));
        while run.len() < self.rows {
            let before = run.len();
            run.extend(self.day.by_ref().take(self.rows - before));
            if run.len() == before {
                let Some((day, places)) = self.canonical.days.get(self.next_day) else { break };
                self.next_day += 1;
                self.day = self.canonical.sorted_day(*day, places).into_iter();
            }
        }
        (!run.is_empty()).then_some(run)
    }
}

/// [`Facts::columns`]: sorted dictionaries and the facts in canonical order.
#[derive(Debug, Clone)]
pub struct Columns<'a> {
    pub strings: Vec<&'a str>,
    pub accounts: Vec<&'a AccountId>,
    pub facts: Vec<(FactCodes, &'a FactValue)>,
}

/// An interned string of one [`Facts`] (meaningless in another).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StrId(Sym);

/// An interned account of one [`Facts`] (meaningless in another).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AcctId(Sym);

/// A fact's key in ids interned in the [`Facts`] it is added to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InternedKey {
    pub usage_day: NaiveDate,
    pub account: AcctId,
    pub product_code: StrId,
    pub usage_type: StrId,
    pub operation: StrId,
    pub line_item_type: StrId,
    pub resource_id: Option<StrId>,
    pub principal: Option<StrId>,
    pub workspace: Option<StrId>,
}

/// Hashes fact keys as one [`Facts`]' lookup index does, so that a reader
/// thread hashes and orders a batch outside the lock it shares with the
/// others ([`Facts::add_batch`]).
#[derive(Debug, Clone)]
pub struct KeyHasher(FastHash);

/// Facts to add ([`Facts::add_batch`]), hashed, in the order of their
/// places in the index.
#[derive(Debug, Default)]
pub struct HashedBatch {
    /// Each fact's hash, its place in the batch, its key and its value.
    items: Vec<(u64, u32, Key, FactValue)>,
}

impl KeyHasher {
    /// The facts hashed and ordered by their hashes' low bits first: the
    /// index places a key by the low bits of its hash (whatever its size),
    /// so this is the order of their places. Each keeps its place in the
    /// batch, the order new facts are appended in.
    pub fn batch(&self, facts: impl IntoIterator<Item = (InternedKey, FactValue)>) -> HashedBatch {
        use std::hash::BuildHasher;
        let facts = facts.into_iter();
        // Sized once by the most the facts can be (a filtered iterator
        // tells only that), not doubled up to it: a reader's batch is at its
        // memory peak.
        let (least, most) = facts.size_hint();
        let mut items: Vec<(u64, u32, Key, FactValue)> = Vec::with_capacity(most.unwrap_or(least));
        items.extend(facts.enumerate().map(|(place, (k, v))| {
            let k = Key::of(k);
            (self.0.hash_one(k), u32::try_from(place).unwrap_or(u32::MAX), k, v)
        }));
        items.sort_unstable_by_key(|(h, ..)| h.reverse_bits());
        HashedBatch { items }
    }
}

/// A fact's key as 0-based positions in the sorted dictionaries of
/// [`Facts::columns`]: ordering codes orders the keys they stand for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FactCodes {
    pub usage_day: NaiveDate,
    pub account: u32,
    pub product_code: u32,
    pub usage_type: u32,
    pub operation: u32,
    pub line_item_type: u32,
    pub resource_id: OptRank,
    pub principal: OptRank,
    pub workspace: OptRank,
}

/// An optional position in four bytes (an `Option<u32>` takes eight): a
/// large month sorts a million codes at once, and the sort's memory sits on
/// top of the facts'. Absent orders first, as `None` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct OptRank(u32);

impl OptRank {
    pub fn of(rank: Option<u32>) -> OptRank {
        OptRank(rank.map_or(0, |r| r.saturating_add(1)))
    }

    pub fn get(self) -> Option<u32> {
        self.0.checked_sub(1)
    }
}

fn resolve<'a>(strings: &'a Interner<Box<str>>, accounts: &'a Interner<AccountId>, k: &Key) -> FactRef<'a> {
    let fields = [k.product_code, k.usage_type, k.operation, k.line_item_type];
    fact_ref(k.usage_day, accounts.get(k.account), fields, [k.resource_id, k.principal, k.workspace], |x| &**strings.get(x))
}

/// A key's strings looked up through `s`, in `FactRef`'s field order:
/// product code, usage type, operation, line item type; then resource,
/// principal, workspace.
fn fact_ref<'a, T: Copy>(usage_day: NaiveDate, account: &'a AccountId, f: [T; 4], o: [Option<T>; 3], s: impl Fn(T) -> &'a str) -> FactRef<'a> {
    FactRef {
        usage_day,
        account,
        product_code: s(f[0]),
        usage_type: s(f[1]),
        operation: s(f[2]),
        line_item_type: s(f[3]),
        resource_id: o[0].map(&s),
        principal: o[1].map(&s),
        workspace: o[2].map(&s),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkloadCost {
    pub workload: WorkloadId,
    pub cost: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReasonCost {
    pub reason: Reason,
    pub cost: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountCost {
    pub account: AccountId,
    pub ai_total: Money,
    pub attributed: Money,
    pub unattributed: Money,
}

/// `finops report attribution`'s answer (every amount a decimal string).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttributionReport {
    pub period: BillingPeriod,
    pub total: Money,
    pub ai_total: Money,
    pub attributed: Money,
    pub unattributed: Money,
    pub adjustments: Money,
    pub by_workload: Vec<WorkloadCost>,
    pub unattributed_by_reason: Vec<ReasonCost>,
    pub by_account: Vec<AccountCost>,
    /// Discounts and credits on AI usage, allocated to the owners of the
    /// usage they discount (part of `adjustments`; what no usage of its
    /// account and product could take stays there unallocated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discounts: Vec<DiscountShare>,
    /// The basis every amount is on.
    #[serde(default)]
    pub cost_basis: CostBasis,
    /// The hierarchy nodes a scoped view covers (absent: the organisation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Vec<NodeId>>,
}

/// One owner's share of the discounts and credits on an account's AI usage
/// of one product: its kind (`Credit`, `EdpDiscount`, …) is its reason, so
/// it never reads as usage. Exactly one of `workload` and `reason` is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DiscountShare {
    pub account: AccountId,
    pub product_code: String,
    /// The discount's line item type.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<WorkloadId>,
    /// The unattributed reason of the usage it discounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    pub cost: Money,
}

/// Who a usage dollar belongs to, for the discounts' allocation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum UsageOwner {
    Workload(WorkloadId),
    Reason(Reason),
}

/// Allocates each (account, product, kind)'s discounts over the usage cost of
/// that account and product, owner by owner, in proportion and exactly.
fn allocate_discounts(
    discounts: BTreeMap<(&AccountId, &str, &str), Money>,
    usage: &BTreeMap<(&AccountId, &str), BTreeMap<UsageOwner, Money>>,
) -> Vec<DiscountShare> {
    let mut out = Vec::new();
    for ((account, product_code, kind), amount) in discounts {
        let Some(owners) = usage.get(&(account, product_code)) else { continue };
        let weights: Vec<Money> = owners.values().copied().collect();
        let Some(shares) = allocate(amount, &weights) else { continue };
        for (owner, cost) in owners.keys().zip(shares) {
            let (workload, reason) = match owner {
                UsageOwner::Workload(w) => (Some(w.clone()), None),
                UsageOwner::Reason(r) => (None, Some(*r)),
            };
            out.push(DiscountShare { account: account.clone(), product_code: product_code.to_owned(), kind: kind.to_owned(), workload, reason, cost });
        }
    }
    out
}

/// What attribution reads of a fact, but its day: line item type, operation,
/// whether it is a guardrail line, resource, principal, workspace.
type Shape = (Sym, Sym, bool, Option<Sym>, Option<Sym>, Option<Sym>);

/// Every AI fact of the period with its attribution outcome. Usage types are
/// decoded once per distinct string, and attribution is prepared once per
/// distinct line shape (everything but the day: see `Attributor::prepare`),
/// so a month of a million facts parses each principal once.
pub fn outcomes<'a>(period: BillingPeriod, facts: &'a Facts, attributor: &'a Attributor) -> impl Iterator<Item = (FactRef<'a>, &'a FactValue, Outcome)> + 'a {
    outcomes_of(period, facts, attributor, facts.ai.iter())
}

/// [`outcomes`] in at most `n` shares of the facts that together hold each
/// fact once, for that many threads; each share decodes and prepares on its
/// own.
pub fn outcome_runs<'a>(period: BillingPeriod, facts: &'a Facts, attributor: &'a Attributor, n: usize) -> impl Iterator<Item = impl Iterator<Item = (FactRef<'a>, &'a FactValue, Outcome)> + Send + 'a> + 'a {
    facts.ai.runs(n).map(move |run| outcomes_of(period, facts, attributor, run))
}

fn outcomes_of<'a>(period: BillingPeriod, facts: &'a Facts, attributor: &'a Attributor, entries: impl Iterator<Item = (&'a Key, &'a FactValue)> + Send + 'a) -> impl Iterator<Item = (FactRef<'a>, &'a FactValue, Outcome)> + Send + 'a {
    let mut decoded: HashMap<Sym, Usage, FastHash> = HashMap::default();
    let mut prepared: HashMap<Shape, Prepared<'a>, FastHash> = HashMap::default();
    entries.filter(move |(k, _)| period.contains(k.usage_day)).map(move |(k, v)| {
        let r = facts.resolve(k);
        let usage = decoded.entry(k.usage_type).or_insert_with(|| decode(r.usage_type).usage);
        let guardrail = matches!(usage, Usage::Guardrail { .. });
        let line = AiLine {
            usage_day: k.usage_day,
            line_item_type: r.line_item_type,
            operation: r.operation,
            usage,
            resource_id: r.resource_id,
            principal: r.principal,
            workspace: r.workspace,
        };
        let shape = (k.line_item_type, k.operation, guardrail, k.resource_id, k.principal, k.workspace);
        let outcome = prepared.entry(shape).or_insert_with(|| attributor.prepare(&line)).at(k.usage_day);
        (r, v, outcome)
    })
}

/// AI facts dated outside the period, per account: a file's rows normally
/// fall inside its billing period, and any that do not are kept out of the
/// period's attribution but must still show in its reconciliation.
pub fn outside_period(period: BillingPeriod, facts: &Facts) -> BTreeMap<AccountId, Money> {
    let mut out: BTreeMap<AccountId, Money> = BTreeMap::new();
    for (k, v) in facts.iter().filter(|(k, _)| !period.contains(k.usage_day)) {
        *out.entry(k.account.clone()).or_default() += v.cost;
    }
    out
}

pub fn report<'a>(period: BillingPeriod, facts: &'a Facts, attributor: &'a Attributor) -> AttributionReport {
    // Summed in hash maps and sorted once at the end: a month has a million
    // facts but thousands of workloads, and a B-tree compares strings at
    // every level for every fact.
    let mut by_workload: HashMap<WorkloadId, Money, FastHash> = HashMap::default();
    let mut by_reason: BTreeMap<Reason, Money> = BTreeMap::new();
    let mut by_account: BTreeMap<AccountId, AccountCost> = BTreeMap::new();
    let (mut ai_total, mut attributed, mut unattributed, mut adjustments) = (Money::ZERO, Money::ZERO, Money::ZERO, Money::ZERO);
    // Keyed by strings borrowed from the facts: a month has a million facts
    // and a handful of accounts and products, so nothing is copied per fact.
    let mut discounts: BTreeMap<(&AccountId, &str, &str), Money> = BTreeMap::new();
    let mut usage: HashMap<(&AccountId, &str), HashMap<UsageOwner, Money, FastHash>, FastHash> = HashMap::default();
    let mut owned = |k: &FactRef<'a>, owner: UsageOwner, cost: Money| {
        if cost.is_negative() || cost.is_zero() {
            return;
        }
        *usage.entry((k.account, k.product_code)).or_default().entry(owner).or_default() += cost;
    };
    for (k, v, outcome) in outcomes(period, facts, attributor) {
        if !by_account.contains_key(k.account) {
            let zero = AccountCost { account: k.account.clone(), ai_total: Money::ZERO, attributed: Money::ZERO, unattributed: Money::ZERO };
            by_account.insert(k.account.clone(), zero);
        }
        let Some(acct) = by_account.get_mut(k.account) else { continue };
        ai_total += v.cost;
        acct.ai_total += v.cost;
        match outcome {
            Outcome::Attributed { workload, .. } => {
                attributed += v.cost;
                acct.attributed += v.cost;
                match by_workload.get_mut(&workload) {
                    Some(c) => *c += v.cost,
                    None => {
                        by_workload.insert(workload.clone(), v.cost);
                    }
                }
                owned(&k, UsageOwner::Workload(workload), v.cost);
            }
            Outcome::Unattributed { reason } => {
                unattributed += v.cost;
                acct.unattributed += v.cost;
                *by_reason.entry(reason).or_default() += v.cost;
                owned(&k, UsageOwner::Reason(reason), v.cost);
            }
            Outcome::Adjustment => {
                adjustments += v.cost;
                if is_discount(k.line_item_type) && !v.cost.is_zero() {
                    *discounts.entry((k.account, k.product_code, k.line_item_type)).or_default() += v.cost;
                }
            }
        }
    }
    let non_ai: Money = facts.non_ai.values().sum();
    // Discounts are allocated over owners in a fixed order, so that where the
    // cents fall does not depend on hashing.
    let usage: BTreeMap<(&AccountId, &str), BTreeMap<UsageOwner, Money>> = usage.into_iter().map(|(k, owners)| (k, owners.into_iter().collect())).collect();
    let by_workload: BTreeMap<WorkloadId, Money> = by_workload.into_iter().collect();
    AttributionReport {
        period,
        total: ai_total + non_ai,
        ai_total,
        attributed,
        unattributed,
        adjustments,
        by_workload: by_workload.into_iter().map(|(workload, cost)| WorkloadCost { workload, cost }).collect(),
        unattributed_by_reason: by_reason.into_iter().map(|(reason, cost)| ReasonCost { reason, cost }).collect(),
        by_account: by_account.into_values().collect(),
        discounts: allocate_discounts(discounts, &usage),
        cost_basis: facts.basis,
        scope: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arn::RolePattern;

    proptest::proptest! {
        /// A compact optional rank orders and reads back as the `Option` it
        /// stands for, so the canonical order is unchanged.
        #[test]
        fn an_opt_rank_is_its_option(a in proptest::option::of(0u32..u32::MAX), b in proptest::option::of(0u32..u32::MAX)) {
            proptest::prop_assert_eq!(OptRank::of(a).get(), a);
            proptest::prop_assert_eq!(OptRank::of(a).cmp(&OptRank::of(b)), a.cmp(&b));
        }
    }
    use crate::cur::attribution::ClaimBook;
    use crate::governance::claims::{Claim, ClaimKind, ClaimTarget};
    use crate::ids::UserId;
    use proptest::prelude::*;

    fn attributor() -> Attributor {
        let claim = |arn: &str, wl: &str, from: NaiveDate| Claim {
            target: ClaimTarget::parse(ClaimKind::IamRole, arn).unwrap(),
            workload: WorkloadId::parse(wl).unwrap(),
            claimed_at: from,
            claimed_by: UserId::parse("po").unwrap(),
            released_at: None,
            released_by: None,
        };
        Attributor {
            claims: ClaimBook::new([
                claim("arn:aws:iam::111122223333:role/finops-chat-ab12", "chat", NaiveDate::from_ymd_opt(2026, 3, 10).unwrap()),
                claim("arn:aws:iam::444455556666:role/search", "search", NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()),
            ]),
            broad_roles: RolePattern::defaults(),
        }
    }

    const PRINCIPALS: &[&str] = &[
        "arn:aws:sts::111122223333:assumed-role/finops-chat-ab12/app",
        "arn:aws:sts::444455556666:assumed-role/search/app",
        "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_AdministratorAccess_0a1b/bob",
        "arn:aws:sts::111122223333:assumed-role/finops-orphan-zz99/app",
        "arn:aws:iam::111122223333:user/alice",
        "",
    ];
    const ACCOUNTS: &[&str] = &["111122223333", "444455556666"];
    const TYPES: &[&str] = &["Usage", "Usage", "Usage", "Tax", "Credit", "EdpDiscount"];
    const PRODUCTS: &[&str] = &["AmazonBedrock", "AmazonBedrock", "AmazonEC2", "AmazonS3"];

    fn row_strategy() -> impl Strategy<Value = CurRow> {
        (1u32..=31, 0..ACCOUNTS.len(), 0..PRODUCTS.len(), 0..TYPES.len(), 0..PRINCIPALS.len(), -10_000_000_000i64..50_000_000_000i64, any::<bool>())
            .prop_map(|(day, a, p, t, pr, cents, with_principal)| CurRow {
                usage_day: NaiveDate::from_ymd_opt(2026, 3, day).unwrap(),
                account: AccountId::parse(ACCOUNTS[a]).unwrap(),
                product_code: PRODUCTS[p].into(),
                billing_entity: "AWS".into(),
                product_name: String::new(),
                usage_type: "USE1-Claude3Haiku-input-tokens".into(),
                operation: "InvokeModel".into(),
                line_item_type: TYPES[t].into(),
                resource_id: None,
                principal: with_principal.then(|| PRINCIPALS[pr].to_owned()),
                workspace: None,
                usage_amount: Decimal::from(day),
                cost: Decimal::new(cents, 10),
            })
    }

    proptest! {
        /// The conservation law: every AI dollar is attributed, unattributed with a
        /// reason, or an adjustment; the parts add up to the totals exactly, and
        /// survive the trip through JSON.
        #[test]
        fn parts_add_up_to_the_totals_exactly(rows in proptest::collection::vec(row_strategy(), 0..300)) {
            let mut facts = Facts::default();
            let exact_total: Decimal = rows.iter().map(|r| r.cost).sum();
            for r in rows {
                facts.add(r);
            }
            let p = BillingPeriod::parse("2026-03").unwrap();
            let r = report(p, &facts, &attributor());
            prop_assert_eq!(r.total.amount(), exact_total);
            prop_assert_eq!(r.attributed + r.unattributed + r.adjustments, r.ai_total);
            prop_assert_eq!(r.by_workload.iter().map(|w| w.cost).sum::<Money>(), r.attributed);
            prop_assert_eq!(r.unattributed_by_reason.iter().map(|x| x.cost).sum::<Money>(), r.unattributed);
            prop_assert_eq!(r.by_account.iter().map(|a| a.attributed + a.unattributed).sum::<Money>(), r.attributed + r.unattributed);
            let json = serde_json::to_string(&r).unwrap();
            let back: AttributionReport = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back, r);
        }

        /// On every basis, the report's total is the bill on that basis to the
        /// last digit, its parts add up, and each discount is allocated whole
        /// over the usage of its account and product (or left unallocated
        /// when there is none).
        #[test]
        fn parts_add_up_on_every_basis(rows in proptest::collection::vec((row_strategy(), 0i64..3, -500i64..500), 0..300)) {
            let mut facts = Facts::default();
            let p = BillingPeriod::parse("2026-03").unwrap();
            let mut expected: BTreeMap<CostBasis, Decimal> = BTreeMap::new();
            let mut discount_groups: BTreeMap<(AccountId, String, String), Decimal> = BTreeMap::new();
            for (r, pct, delta) in rows {
                // Net: a discount of 0–2 %; amortized: unblended plus a small difference.
                let costs = RowCosts { net: r.cost - r.cost * Decimal::new(pct, 2), amortized: r.cost + Decimal::new(delta, 4), list: r.cost };
                for (b, c) in [(CostBasis::Unblended, r.cost), (CostBasis::Net, costs.net), (CostBasis::Amortized, costs.amortized)] {
                    *expected.entry(b).or_default() += c;
                }
                if is_ai_row(&r.product_code, &r.billing_entity, &r.product_name) && is_discount(&r.line_item_type) {
                    *discount_groups.entry((r.account.clone(), r.product_code.clone(), r.line_item_type.clone())).or_default() += costs.net;
                }
                facts.add_costed(r, costs);
            }
            for basis in CostBasis::ALL {
                let r = report(p, &facts.clone().on_basis(basis).unwrap(), &attributor());
                prop_assert_eq!(r.cost_basis, basis);
                prop_assert_eq!(r.total.amount(), expected.get(&basis).copied().unwrap_or_default());
                prop_assert_eq!(r.attributed + r.unattributed + r.adjustments, r.ai_total);
                prop_assert_eq!(r.by_workload.iter().map(|w| w.cost).sum::<Money>(), r.attributed);
                let mut allocated: BTreeMap<(AccountId, String, String), Money> = BTreeMap::new();
                for d in &r.discounts {
                    prop_assert!(d.workload.is_some() != d.reason.is_some());
                    *allocated.entry((d.account.clone(), d.product_code.clone(), d.kind.clone())).or_default() += d.cost;
                }
                if basis == CostBasis::Net {
                    for (group, sum) in &allocated {
                        prop_assert_eq!(sum.amount(), discount_groups[group]);
                    }
                }
                prop_assert!(allocated.values().copied().sum::<Money>().amount().abs() <= r.adjustments.amount().abs() + discount_groups.values().map(|d| d.abs()).sum::<Decimal>());
            }
        }

        /// A month's files in any order, or one file twice through `merge` of
        /// replaced sources, give the same facts.
        #[test]
        fn merging_is_order_independent(rows in proptest::collection::vec(row_strategy(), 0..100), split in 0usize..100) {
            let split = split.min(rows.len());
            let (a, b) = rows.split_at(split);
            let facts = |rows: &[CurRow]| { let mut f = Facts::default(); for r in rows { f.add(r.clone()); } f };
            let (fa, fb) = (facts(a), facts(b));
            let mut ab = fa.clone();
            ab.merge(&fb);
            let mut ba = fb.clone();
            ba.merge(&fa);
            prop_assert_eq!(&ab, &ba);
            prop_assert_eq!(ab, facts(&rows));
        }

        /// The canonical order taken a run at a time (sorted a day at a
        /// time) is the whole order sorted at once, cut every `rows` facts:
        /// every fact once, keys ascending across days and runs.
        #[test]
        fn runs_cut_the_canonical_order(rows in proptest::collection::vec(row_strategy(), 0..200), cut in 1usize..40) {
            let mut facts = Facts::default();
            for r in &rows {
                facts.add(r.clone());
            }
            let canonical = facts.canonical();
            let runs: Vec<_> = canonical.runs(cut).collect();
            prop_assert!(runs.iter().all(|r| !r.is_empty() && r.len() <= cut));
            prop_assert!(runs.iter().rev().skip(1).all(|r| r.len() == cut), "only the last run is short");
            let order: Vec<(FactCodes, &FactValue)> = runs.into_iter().flatten().collect();
            prop_assert_eq!(order.len(), facts.len());
            prop_assert!(order.windows(2).all(|w| w[0].0 < w[1].0), "strictly ascending: each fact once, in order");
            // The same keys and values as the facts hold, through the dictionaries.
            let mut resolved: Vec<String> = order.iter().map(|(k, v)| format!("{} {} {} {:?} {:?}", k.usage_day, canonical.accounts[k.account as usize], canonical.strings[k.line_item_type as usize], k.principal.get().map(|p| canonical.strings[p as usize]), v)).collect();
            let mut held: Vec<String> = facts.iter().map(|(k, v)| format!("{} {} {} {:?} {:?}", k.usage_day, k.account, k.line_item_type, k.principal, v)).collect();
            resolved.sort();
            held.sort();
            prop_assert_eq!(resolved, held);
        }

        /// A day sorted as packed integers is the day sorted by its codes,
        /// whatever the facts.
        #[test]
        fn a_packed_day_sorts_as_its_codes_do(rows in proptest::collection::vec(row_strategy(), 0..200)) {
            let mut facts = Facts::default();
            for r in &rows {
                facts.add(r.clone());
            }
            let canonical = facts.canonical();
            let packing = canonical.packing;
            prop_assert!(packing.is_some(), "a few strings always fit");
            for (day, places) in &canonical.days {
                prop_assert_eq!(canonical.sorted_day_with(packing, *day, places), canonical.sorted_day_with(None, *day, places));
            }
        }

        /// Packing keeps every field and the order of any two codes, up to
        /// the widest dictionaries that fit.
        #[test]
        fn packed_codes_order_as_the_codes_and_unpack_to_them(
            sizes in (1usize..4_096, 1usize..65_535),
            a in proptest::collection::vec(0u32..u32::MAX, 8),
            b in proptest::collection::vec(0u32..u32::MAX, 8),
            same in 0usize..8,
        ) {
            let (accounts, strings) = sizes;
            // 12 + 4 × 16 + 3 × 16 bits at most: always fits.
            let p = Packing::of(accounts, strings).expect("fits");
            let day = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
            let codes = |v: &[u32]| {
                let (acc, st, opt) = (accounts as u32, strings as u32, strings as u32 + 1);
                FactCodes { usage_day: day, account: v[0] % acc, product_code: v[1] % st, usage_type: v[2] % st, operation: v[3] % st, line_item_type: v[4] % st, resource_id: OptRank(v[5] % opt), principal: OptRank(v[6] % opt), workspace: OptRank(v[7] % opt) }
            };
            // b shares a's first `same` fields, so that later fields decide too.
            let b: Vec<u32> = a.iter().take(same).chain(b.iter().skip(same)).copied().collect();
            let (x, y) = (codes(&a), codes(&b));
            prop_assert_eq!(p.unpack(day, p.pack(&x)), x);
            prop_assert_eq!(p.unpack(day, p.pack(&y)), y);
            prop_assert_eq!(p.pack(&x).cmp(&p.pack(&y)), x.cmp(&y));
        }
    }

    #[test]
    fn dictionaries_too_wide_to_pack_are_sorted_by_their_codes() {
        assert!(Packing::of(100, 20_000).is_some());
        // 4 × 18 + 3 × 18 + 7 = 133 bits.
        assert!(Packing::of(100, 200_000).is_none());
        assert!(Packing::of(1 << 30, 20_000).is_none());
    }

    proptest! {
        /// Facts added as canonical are the same facts whether they come in
        /// canonical order (appended without lookups) or not (out of order or
        /// repeated: the lookup takes over and folds them).
        #[test]
        fn canonical_appends_fall_back_to_lookups(rows in proptest::collection::vec(row_strategy(), 0..150), rotate in 0usize..150) {
            let mut expected = Facts::default();
            for r in &rows {
                expected.add(r.clone());
            }
            let facts = |order: &[(FactRef<'_>, &FactValue)]| {
                let mut f = Facts::default();
                for (k, v) in order {
                    let key = InternedKey {
                        usage_day: k.usage_day,
                        account: f.intern_account(k.account),
                        product_code: f.intern_str(k.product_code),
                        usage_type: f.intern_str(k.usage_type),
                        operation: f.intern_str(k.operation),
                        line_item_type: f.intern_str(k.line_item_type),
                        resource_id: k.resource_id.map(|x| f.intern_str(x)),
                        principal: k.principal.map(|x| f.intern_str(x)),
                        workspace: k.workspace.map(|x| f.intern_str(x)),
                    };
                    f.add_interned_canonical(key, **v);
                }
                f.non_ai = expected.non_ai.clone();
                f.read_total = expected.read_total.clone();
                f.net = expected.net.clone();
                f.amortized = expected.amortized.clone();
                f
            };
            let sorted = expected.sorted();
            let in_order = facts(&sorted);
            prop_assert!(!in_order.unordered, "canonical order was taken for disorder");
            prop_assert_eq!(&in_order, &expected);
            let mut shuffled = sorted.clone();
            let by = rotate.min(shuffled.len());
            shuffled.rotate_left(by);
            shuffled.extend(sorted.iter().take(3).cloned());
            let folded = facts(&shuffled);
            let mut doubled = expected.clone();
            for (k, v) in sorted.iter().take(3) {
                doubled.add_fact(*k, **v);
            }
            prop_assert_eq!(folded.len(), expected.len());
            prop_assert_eq!(folded.sorted(), doubled.sorted());
        }
    }

    /// A batch adds what its facts one at a time add, in the same order,
    /// whether these facts' hasher hashed it or another's.
    #[test]
    fn a_batch_adds_what_its_facts_add_one_at_a_time() {
        fn keyed(f: &mut Facts) -> Vec<(InternedKey, FactValue)> {
            let account = f.intern_account(&AccountId::parse("111122223333").unwrap());
            let s: Vec<StrId> = ["AmazonBedrock", "USE1-Claude3Haiku-input-tokens", "InvokeModel", "Usage", "arn:aws:sts::111122223333:assumed-role/a/s", "arn:aws:sts::111122223333:assumed-role/b/s"].iter().map(|x| f.intern_str(x)).collect();
            (0..60u32)
                .map(|i| {
                    let key = InternedKey {
                        usage_day: NaiveDate::from_ymd_opt(2026, 3, 1 + i % 3).unwrap(),
                        account,
                        product_code: s[0],
                        usage_type: s[1],
                        operation: s[2],
                        line_item_type: s[3],
                        resource_id: None,
                        principal: Some(s[4 + (i % 2) as usize]),
                        workspace: (i % 5 == 0).then_some(s[0]),
                    };
                    (key, FactValue::flat(Decimal::from(i), Money::new(Decimal::new(i64::from(i) * 7, 3))))
                })
                .collect()
        }
        let (mut one, mut own, mut foreign) = (Facts::default(), Facts::default(), Facts::default());
        for (k, v) in keyed(&mut one) {
            one.add_interned(k, v);
        }
        let batch = own.key_hasher().batch(keyed(&mut own));
        own.add_batch(batch);
        let batch = Facts::default().key_hasher().batch(keyed(&mut foreign));
        foreign.add_batch(batch);
        let listed = |f: &Facts| f.iter().map(|(k, v)| (format!("{k:?}"), *v)).collect::<Vec<_>>();
        assert!(one.len() < 60, "repeated keys fold: {} facts", one.len());
        assert_eq!(listed(&own), listed(&one));
        assert_eq!(listed(&foreign), listed(&one));
    }

    fn usage(account: &str, principal: &str, lit: &str, cost: i64) -> CurRow {
        CurRow {
            usage_day: NaiveDate::from_ymd_opt(2026, 3, 12).unwrap(),
            account: AccountId::parse(account).unwrap(),
            product_code: "AmazonBedrock".into(),
            billing_entity: "AWS".into(),
            product_name: "Amazon Bedrock".into(),
            usage_type: if lit == "Usage" { "USE1-Claude3Haiku-input-tokens".into() } else { String::new() },
            operation: "InvokeModel".into(),
            line_item_type: lit.into(),
            resource_id: None,
            principal: Some(principal.into()),
            workspace: None,
            usage_amount: Decimal::ONE,
            cost: Decimal::new(cost, 2),
        }
    }

    /// An EDP discount on an account's Bedrock usage goes to the owners of
    /// that usage in proportion to their usage (chat 300, an unclaimed
    /// admin 100: 3 to 1), carrying its kind; another account's usage takes
    /// none of it.
    #[test]
    fn discounts_go_to_the_usage_they_discount() {
        let mut facts = Facts::default();
        facts.add(usage("111122223333", PRINCIPALS[0], "Usage", 30000));
        facts.add(usage("111122223333", PRINCIPALS[2], "Usage", 10000));
        facts.add(usage("444455556666", PRINCIPALS[1], "Usage", 50000));
        facts.add(usage("111122223333", "", "EdpDiscount", -2001));
        let r = report(BillingPeriod::parse("2026-03").unwrap(), &facts, &attributor());
        let shares: Vec<(Option<&str>, Option<Reason>, &str, String)> =
            r.discounts.iter().map(|d| (d.workload.as_ref().map(|w| w.as_str()), d.reason, d.kind.as_str(), d.cost.to_canonical_string())).collect();
        assert_eq!(shares, [(Some("chat"), None, "EdpDiscount", "-15.01".to_owned()), (None, Some(Reason::BroadRole), "EdpDiscount", "-5".to_owned())]);
        assert_eq!(r.adjustments, Money::parse("-20.01").unwrap());
    }

    /// A basis the source could not give is refused by the column it lacked.
    #[test]
    fn a_basis_without_its_columns_is_refused_by_name() {
        let mut facts = Facts::default();
        facts.add(usage("111122223333", PRINCIPALS[0], "Usage", 100));
        facts.amortized = BasisSums::missing(super::super::bases::SP_EFFECTIVE_COST);
        let e = facts.clone().on_basis(CostBasis::Amortized).unwrap_err();
        assert_eq!(e.column, "savings_plan_savings_plan_effective_cost");
        assert!(e.to_string().contains("amortized cost basis needs column savings_plan_savings_plan_effective_cost"), "{e}");
        assert!(facts.on_basis(CostBasis::Net).is_ok());
    }

    #[test]
    fn a_file_without_the_principal_column_is_attribution_not_enabled() {
        let mut facts = Facts::default();
        facts.add(CurRow {
            usage_day: NaiveDate::from_ymd_opt(2026, 3, 12).unwrap(),
            account: AccountId::parse("111122223333").unwrap(),
            product_code: "AmazonBedrock".into(),
            billing_entity: "AWS".into(),
            product_name: "Amazon Bedrock".into(),
            usage_type: "USE1-Claude3Haiku-input-tokens".into(),
            operation: "InvokeModel".into(),
            line_item_type: "Usage".into(),
            resource_id: None,
            principal: None,
            workspace: None,
            usage_amount: Decimal::from(1000),
            cost: Decimal::new(25, 5),
        });
        let r = report(BillingPeriod::parse("2026-03").unwrap(), &facts, &attributor());
        assert_eq!(r.unattributed_by_reason, [ReasonCost { reason: Reason::AttributionNotEnabled, cost: Money::parse("0.00025").unwrap() }]);
        assert!(is_ai_row("AWSMarketplace", "AWS Marketplace", "Claude Opus (Amazon Bedrock Edition)"));
        assert!(!is_ai_row("AmazonEC2", "AWS", "Amazon Elastic Compute Cloud"));
    }
}
