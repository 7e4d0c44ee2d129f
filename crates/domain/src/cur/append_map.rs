//! An insertion-ordered map whose entries never move: the facts' table.
//!
//! A large estate's month has about a million distinct facts. In a map whose
//! entries live in one growing array (`IndexMap`, `HashMap`), every doubling
//! allocates the new array beside the old one, so the read's peak holds the
//! facts one and a half times, and the freed array stays in the allocator's
//! hands for a while after. Here entries live in fixed-size segments that are
//! allocated once and never reallocated, and the hash index holds only a
//! `u32` per entry: growing it moves a few bytes per fact, not a whole fact.
//! The index keeps no hashes; a growing index hashes each key again, which on
//! a small key costs less than storing eight bytes per fact.
//!
//! Entries known to be distinct (a ledger object's, checked in canonical
//! order by its reader) are appended without touching the index, which is
//! built for them on the first lookup: a report that only reads one object's
//! facts never builds it.

use std::hash::{BuildHasher, Hash};

use hashbrown::HashTable;

/// Entries per segment: 16,384 facts of about 128 bytes is a 2 MB segment,
/// small beside a large month and large enough that the segment list is tiny.
const SEGMENT_BITS: u32 = 14;
const SEGMENT: usize = 1 << SEGMENT_BITS;

#[derive(Clone, Debug)]
pub(crate) struct AppendMap<K, V, S> {
    segments: Vec<Vec<(K, V)>>,
    index: HashTable<u32>,
    hasher: S,
    len: usize,
    /// Entries `0..indexed` are in the index; the rest were appended as
    /// distinct and are indexed on the next lookup.
    indexed: usize,
}

impl<K, V, S: Default> Default for AppendMap<K, V, S> {
    fn default() -> Self {
        AppendMap { segments: Vec::new(), index: HashTable::new(), hasher: S::default(), len: 0, indexed: 0 }
    }
}

/// The entry at `i`, given the segments apart from `self`, so that the index
/// can be borrowed mutably beside it.
fn at<K, V>(segments: &[Vec<(K, V)>], i: u32) -> &(K, V) {
    let i = i as usize;
    &segments[i >> SEGMENT_BITS][i & (SEGMENT - 1)]
}

impl<K: Hash + Eq + Copy, V: Copy, S: BuildHasher> AppendMap<K, V, S> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Room in the index for `additional` more entries; segments are added as
    /// they fill, so only the index (four bytes and a tag per entry) is sized.
    pub(crate) fn reserve(&mut self, additional: usize) {
        let (segments, hasher) = (&self.segments, &self.hasher);
        self.index.reserve(additional, |i| hasher.hash_one(at(segments, *i).0));
        self.segments.reserve(additional.div_ceil(SEGMENT));
    }

    /// Folds `value` into the entry for `key` with `fold`, or appends it as
    /// a new entry at the end.
    ///
    /// More than `u32::MAX` entries cannot be numbered by the index; such a
    /// map (hundreds of gigabytes) cannot be built in memory anyway, so the
    /// number saturates rather than wraps.
    pub(crate) fn upsert(&mut self, key: K, value: V, fold: impl FnOnce(&mut V, V)) {
        self.index_appended();
        let hash = self.hasher.hash_one(key);
        let segments = &mut self.segments;
        if let Some(i) = self.index.find(hash, |i| at(segments, *i).0 == key) {
            let i = *i as usize;
            fold(&mut segments[i >> SEGMENT_BITS][i & (SEGMENT - 1)].1, value);
            return;
        }
        let n = u32::try_from(self.len).unwrap_or(u32::MAX);
        self.push(key, value);
        self.indexed = self.len;
        let (segments, hasher) = (&self.segments, &self.hasher);
        self.index.insert_unique(hash, n, |i| hasher.hash_one(at(segments, *i).0));
    }

    /// `key`'s hash, as [`AppendMap::upsert_batch`] takes it.
    pub(crate) fn hash(&self, key: K) -> u64 {
        self.hasher.hash_one(key)
    }

    pub(crate) fn hasher(&self) -> &S {
        &self.hasher
    }

    /// Folds a batch of entries in, each with its hash (the map's own, see
    /// [`AppendMap::hash`]) and its place in the batch, the batch
    /// ordered by the low bits of the hashes first. Lookups and index
    /// inserts go in that order, which is the order of their places in the
    /// index (it places a hash by its low bits), so the CPU fetches ahead
    /// instead of missing its cache at each; new entries are appended in
    /// the batch's own order, as [`AppendMap::upsert`] one at a time would
    /// append them, so that passes over the entries keep the locality of
    /// the order they came in (a gap detection over a million facts in
    /// hash order took a third longer).
    /// `fold` must not depend on the order values come in (a sum): a key's
    /// values are folded in the batch's hash order.
    pub(crate) fn upsert_batch(&mut self, batch: &[(u64, u32, K, V)], fold: impl Fn(&mut V, V)) {
        self.index_appended();
        // The batch's new keys, in hash order: (hash, place, key, value).
        let mut fresh: Vec<(u64, u32, K, V)> = Vec::new();
        // Where the run of `fresh` entries with the current hash starts: a
        // key new to the map that comes twice in the batch has one hash, so
        // its second coming is in that run.
        let mut run = 0;
        for &(hash, place, key, value) in batch {
            let segments = &mut self.segments;
            if let Some(i) = self.index.find(hash, |i| at(segments, *i).0 == key) {
                let i = *i as usize;
                fold(&mut segments[i >> SEGMENT_BITS][i & (SEGMENT - 1)].1, value);
                continue;
            }
            if fresh.get(run).is_none_or(|f| f.0 != hash) {
                run = fresh.len();
            }
            match fresh[run..].iter_mut().find(|f| f.2 == key) {
                // Appended at its first place in the batch, as one upsert
                // at a time appends it (equal hashes come in any order).
                Some(f) => {
                    f.1 = f.1.min(place);
                    fold(&mut f.3, value);
                }
                None => fresh.push((hash, place, key, value)),
            }
        }
        // Appended in the batch's order; each new entry's number noted by
        // its place in `fresh`.
        let mut by_place: Vec<u32> = (0..u32::try_from(fresh.len()).unwrap_or(u32::MAX)).collect();
        by_place.sort_unstable_by_key(|f| fresh[*f as usize].1);
        let mut number = vec![0u32; fresh.len()];
        for f in by_place {
            let (_, _, key, value) = fresh[f as usize];
            number[f as usize] = u32::try_from(self.len).unwrap_or(u32::MAX);
            self.push(key, value);
        }
        self.indexed = self.len;
        let (segments, hasher) = (&self.segments, &self.hasher);
        for ((hash, ..), n) in fresh.iter().zip(number) {
            self.index.insert_unique(*hash, n, |i| hasher.hash_one(at(segments, *i).0));
        }
    }

    /// Appends an entry the caller knows is not in the map, without a
    /// lookup. A key appended twice this way would be listed twice (each
    /// value still counted once by every pass): callers prove distinctness.
    pub(crate) fn push_distinct(&mut self, key: K, value: V) {
        self.push(key, value);
    }

    /// Frees the index (a lookup builds it again): facts that will only be
    /// read need the entries, not the four bytes and a tag per entry of it.
    pub(crate) fn forget_index(&mut self) {
        self.index = HashTable::new();
        self.indexed = 0;
    }

    /// The last entry appended.
    pub(crate) fn last(&self) -> Option<(&K, &V)> {
        let i = self.len.checked_sub(1)?;
        let (k, v) = &self.segments[i >> SEGMENT_BITS][i & (SEGMENT - 1)];
        Some((k, v))
    }

    fn push(&mut self, key: K, value: V) {
        if self.len % SEGMENT == 0 {
            self.segments.push(Vec::with_capacity(SEGMENT));
        }
        if let Some(last) = self.segments.last_mut() {
            last.push((key, value));
        }
        self.len += 1;
    }

    /// Indexes the entries not yet in the index: those appended by
    /// [`AppendMap::push_distinct`], or all of them after a retain.
    fn index_appended(&mut self) {
        if self.indexed == self.len {
            return;
        }
        let (segments, hasher) = (&self.segments, &self.hasher);
        self.index.reserve(self.len - self.indexed, |i| hasher.hash_one(at(segments, *i).0));
        for n in self.indexed..self.len {
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            let hash = hasher.hash_one(at(segments, n).0);
            self.index.insert_unique(hash, n, |i| hasher.hash_one(at(segments, *i).0));
        }
        self.indexed = self.len;
    }

    /// Every entry in insertion order. Of exact size, so that what is
    /// collected from it (a million facts' codes) is allocated once instead
    /// of doubling its way there.
    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = (&K, &V)> + '_ {
        (0..self.len).map(|i| {
            let (k, v) = &self.segments[i >> SEGMENT_BITS][i & (SEGMENT - 1)];
            (k, v)
        })
    }

    /// Every entry in insertion order, in at most `n` runs of whole
    /// segments of about equal length: shares of the map for that many
    /// threads to go through apart. Fixed runs, not segments handed out in
    /// turn: on the large month, a gap detection over segments taken in
    /// turn by two threads spent nearly twice the CPU one thread spends
    /// (measured, its cause not found), where fixed halves spend about
    /// what one thread does.
    pub(crate) fn runs(&self, n: usize) -> impl Iterator<Item = impl Iterator<Item = (&K, &V)> + Clone + '_> + '_ {
        let per = self.segments.len().div_ceil(n.max(1)).max(1);
        self.segments.chunks(per).map(|run| run.iter().flatten().map(|(k, v)| (k, v)))
    }

    /// The entry at place `i` of the insertion order.
    pub(crate) fn at(&self, i: u32) -> Option<(&K, &V)> {
        let i = i as usize;
        self.segments.get(i >> SEGMENT_BITS)?.get(i & (SEGMENT - 1)).map(|(k, v)| (k, v))
    }

    pub(crate) fn values(&self) -> impl ExactSizeIterator<Item = &V> + '_ {
        self.iter().map(|(_, v)| v)
    }

    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut V> + '_ {
        self.segments.iter_mut().flatten().map(|(_, v)| v)
    }

    /// Keeps the entries `keep` accepts, in their order: the kept ones are
    /// moved down in place, emptied segments are freed and the index is
    /// rebuilt in its own allocation.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) {
        let mut kept = 0usize;
        for i in 0..self.len {
            let (k, v) = self.segments[i >> SEGMENT_BITS][i & (SEGMENT - 1)];
            if keep(&k, &v) {
                self.segments[kept >> SEGMENT_BITS][kept & (SEGMENT - 1)] = (k, v);
                kept += 1;
            }
        }
        self.segments.truncate(kept.div_ceil(SEGMENT));
        if let Some(last) = self.segments.last_mut() {
            last.truncate(kept - (kept - 1) / SEGMENT * SEGMENT);
        }
        self.len = kept;
        self.indexed = 0;
        self.index.clear();
        self.index_appended();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    type Map = AppendMap<u32, u64, foldhash::fast::FixedState>;

    #[test]
    fn a_forgotten_index_is_built_again_by_the_next_lookup() {
        let mut map = Map::default();
        for k in 0..50_000u32 {
            map.upsert(k % 20_000, 1, |v, add| *v += add);
        }
        map.forget_index();
        assert_eq!(map.index.len(), 0);
        for k in 0..20_000u32 {
            map.upsert(k, 10, |v, add| *v += add);
        }
        map.upsert(99_999, 7, |v, add| *v += add);
        assert_eq!(map.len(), 20_001);
        let listed: Vec<(u32, u64)> = map.iter().map(|(k, v)| (*k, *v)).collect();
        let expected: Vec<(u32, u64)> = (0..20_000u32).map(|k| (k, if k < 10_000 { 13 } else { 12 })).chain([(99_999, 7)]).collect();
        assert_eq!(listed, expected);
    }

    proptest! {
        // Each case inserts tens of thousands of keys; fewer cases still
        // cover segment boundaries and every kind of retain.
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Whatever is inserted, and whatever is kept, the map holds what an
        /// ordinary map holds, in first-insertion order, across segment
        /// boundaries (the keys are drawn so that segments fill).
        #[test]
        fn behaves_as_an_ordered_map(keys in proptest::collection::vec(0u32..40_000, 0..60_000), modulus in 1u32..7) {
            let mut map = Map::default();
            let mut model: HashMap<u32, u64> = HashMap::new();
            let mut order = Vec::new();
            for k in &keys {
                map.upsert(*k, 1, |v, add| *v += add);
                let e = model.entry(*k).or_insert_with(|| { order.push(*k); 0 });
                *e += 1;
            }
            let listed: Vec<(u32, u64)> = map.iter().map(|(k, v)| (*k, *v)).collect();
            let expected: Vec<(u32, u64)> = order.iter().map(|k| (*k, model[k])).collect();
            prop_assert_eq!(listed, expected);
            prop_assert_eq!(map.len(), order.len());
            prop_assert_eq!(map.iter().len(), order.len());

            map.retain(|k, _| k % modulus == 0);
            let kept: Vec<u32> = order.iter().copied().filter(|k| k % modulus == 0).collect();
            prop_assert_eq!(map.iter().map(|(k, _)| *k).collect::<Vec<_>>(), kept.clone());
            prop_assert_eq!(map.len(), kept.len());
            // The rebuilt index finds every kept key and no dropped one.
            for k in &order {
                map.upsert(*k, 0, |v, add| *v += add);
            }
            prop_assert_eq!(map.len(), order.len());
            let after: Vec<u32> = map.iter().map(|(k, _)| *k).take(kept.len()).collect();
            prop_assert_eq!(after, kept);
        }
    }

    /// Entries appended as distinct are found by the next lookup, across
    /// segment boundaries, and the map then behaves as if they were upserted.
    #[test]
    fn distinct_entries_are_indexed_on_the_first_lookup() {
        let mut map = Map::default();
        let n = 2 * SEGMENT as u32 + 3;
        for k in 0..n {
            map.push_distinct(k, 1);
        }
        assert_eq!(map.last(), Some((&(n - 1), &1)));
        for k in 0..n {
            map.upsert(k, 2, |v, add| *v += add);
        }
        map.upsert(n, 5, |v, add| *v += add);
        assert_eq!(map.len(), n as usize + 1);
        assert!(map.iter().take(n as usize).all(|(_, v)| *v == 3));
        assert_eq!(map.last(), Some((&n, &5)));
        map.push_distinct(n + 1, 7);
        map.retain(|k, _| k % 2 == 0);
        map.upsert(n + 1, 1, |v, add| *v += add);
        assert_eq!(map.last(), Some((&(n + 1), &8)));
        assert_eq!(map.len(), (n as usize + 3) / 2);
    }

    proptest! {
        /// A batch folds in as upserting its entries one at a time does:
        /// the same sums, the new keys appended in the batch's order,
        /// whatever the batch's order by hash and however its keys repeat.
        #[test]
        fn a_batch_is_its_upserts_in_order(before in proptest::collection::vec((0u32..300, 1u64..100), 0..200), batch in proptest::collection::vec((0u32..400, 1u64..100), 0..300)) {
            // Seven hashes in all: runs of equal hashes with different keys.
            let (mut one, mut many) = (AppendMap::<u32, u64, Collide>::default(), AppendMap::<u32, u64, Collide>::default());
            for (k, v) in &before {
                one.upsert(*k, *v, |a, b| *a += b);
                many.upsert(*k, *v, |a, b| *a += b);
            }
            for (k, v) in &batch {
                one.upsert(*k, *v, |a, b| *a += b);
            }
            // Ordered as the callers order it.
            let mut hashed: Vec<(u64, u32, u32, u64)> = batch.iter().enumerate().map(|(p, (k, v))| (many.hash(*k), p as u32, *k, *v)).collect();
            hashed.sort_unstable_by_key(|(h, ..)| h.reverse_bits());
            many.upsert_batch(&hashed, |a, b| *a += b);
            prop_assert_eq!(one.iter().collect::<Vec<_>>(), many.iter().collect::<Vec<_>>());
            // And the index finds every key afterwards.
            for (k, _) in &batch {
                many.upsert(*k, 0, |a, b| *a += b);
            }
            prop_assert_eq!(one.len(), many.len());
        }
    }

    /// A hasher of seven values, so that keys share hashes.
    #[derive(Default, Clone)]
    struct Collide;

    struct CollideHasher(u64);

    impl std::hash::Hasher for CollideHasher {
        fn write(&mut self, bytes: &[u8]) {
            for b in bytes {
                self.0 = self.0.wrapping_mul(31).wrapping_add(u64::from(*b));
            }
        }

        fn finish(&self) -> u64 {
            self.0 % 7
        }
    }

    impl BuildHasher for Collide {
        type Hasher = CollideHasher;

        fn build_hasher(&self) -> CollideHasher {
            CollideHasher(0)
        }
    }

    #[test]
    fn reserving_and_folding_keep_every_sum() {
        let mut map = Map::default();
        map.reserve(3 * SEGMENT);
        for round in 0..3u64 {
            for k in 0..(2 * SEGMENT as u32 + 5) {
                map.upsert(k, round + 1, |v, add| *v += add);
            }
        }
        assert_eq!(map.len(), 2 * SEGMENT + 5);
        assert!(map.values().all(|v| *v == 6));
        map.values_mut().for_each(|v| *v = 0);
        assert_eq!(map.values().sum::<u64>(), 0);
        map.retain(|_, _| false);
        assert!(map.is_empty());
        map.upsert(7, 1, |v, add| *v += add);
        assert_eq!(map.iter().collect::<Vec<_>>(), vec![(&7, &1)]);
    }
}
