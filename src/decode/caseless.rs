//! One pass over a chunk that finds every place where one of a few literals occurs, ASCII
//! case-insensitively, together with every line end and backslash — without writing a
//! lower-cased copy of the chunk first.
//!
//! The search is Teddy (from Hyperscan; the `aho-corasick` crate's packed searcher is
//! another implementation) with case folding moved into its nibble tables. Teddy tests
//! one to three bytes of each literal at 32 positions at once: a byte is looked
//! up by its low and its high nibble in two 16-entry tables whose entries are bitsets of
//! literal *buckets*; a position is a candidate for a bucket when every tested byte's two
//! lookups share that bucket's bit. The two cases of an ASCII letter share their low
//! nibble and differ only in the high one, so entering both high nibbles makes the test
//! case-blind. Candidates are then verified byte by byte.
//!
//! The tested bytes need not be a literal's first ones: each literal is fingerprinted by the
//! window of its bytes that is rarest in a sample of the input. JSON literals start with a
//! quote, and `"pa` or `"os` begin keys on every line, where `ice"` or `sas` seldom occur
//! (seed rule, 184 422 generated events: 506 578 candidates to verify with the first
//! bytes; the whole replay took 1 051.6 M instructions with them, 985.0 M with the
//! rarest, callgrind).
//!
//! Why: lower-casing a chunk and then searching the copy were two passes over every byte,
//! 28 % of a seed-rule replay on one core (`perf`); this is one pass that writes only the
//! offsets it finds.

/// Literals per bucket are compared one by one on a candidate; past this many literals a
/// candidate costs more than the automaton path it replaces.
pub const MAX_LITERALS: usize = 64;

/// A case-insensitive multi-literal search; [`Self::new`] is `None` where it does not apply
/// (no AVX2, too many literals, an empty literal).
#[derive(Debug, Clone)]
pub struct CaselessSearch {
    /// Lower-cased literals.
    literals: Vec<Vec<u8>>,
    /// Literal indices per bucket (bit `b` of a table entry = bucket `b`).
    buckets: [Vec<usize>; 8],
    /// Bytes tested per literal: the shortest literal's length, at most 3.
    width: usize,
    /// Where in each literal its tested bytes start.
    offsets: Vec<usize>,
    /// Bucket bits by low nibble, then by high nibble, of each tested byte.
    low: [[u8; 16]; 3],
    high: [[u8; 16]; 3],
}

impl CaselessSearch {
    /// The search for `literals`; `sample` (typical input) guides which literals share
    /// a bucket when there are more than 8.
    pub fn new(literals: &[&[u8]], sample: &[u8]) -> Option<Self> {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            return Self::build(literals, sample);
        }
        let _ = (literals, sample);
        None
    }

    fn build(literals: &[&[u8]], sample: &[u8]) -> Option<Self> {
        if literals.is_empty() || literals.len() > MAX_LITERALS || literals.iter().any(|l| l.is_empty()) {
            return None;
        }
        let literals: Vec<Vec<u8>> = literals.iter().map(|l| l.to_ascii_lowercase()).collect();
        let width = literals.iter().map(Vec::len).min().unwrap_or(1).min(3);
        let grams = GramCounts::of(sample, width);
        let offsets: Vec<usize> = literals.iter().map(|l| (0..=l.len() - width).min_by_key(|&o| grams.count(&l[o..o + width])).unwrap_or(0)).collect();
        let windows: Vec<&[u8]> = literals.iter().zip(&offsets).map(|(l, &o)| &l[o..o + width]).collect();
        let groups = group_into_buckets(&windows, width, &grams);
        let mut buckets: [Vec<usize>; 8] = Default::default();
        let (mut low, mut high) = ([[0u8; 16]; 3], [[0u8; 16]; 3]);
        for (bucket, members) in groups.into_iter().enumerate() {
            let tables = Fingerprint::of(&members.iter().map(|&i| windows[i]).collect::<Vec<_>>(), width);
            for k in 0..width {
                for n in 0..16 {
                    low[k][n] |= u8::from(tables.low[k] & (1 << n) != 0) << bucket;
                    high[k][n] |= u8::from(tables.high[k] & (1 << n) != 0) << bucket;
                }
            }
            buckets[bucket] = members;
        }
        Some(CaselessSearch { literals, buckets, width, offsets, low, high })
    }

    /// Append to `hits` the offset of every position in `chunk` where some literal starts
    /// (ASCII case-insensitively; one entry per position, ascending) and to `found`, for
    /// each, the literals starting there (bit `i` = literal `i`); fill `newlines` and
    /// `backslashes` with the offsets of every `\n` and `\`.
    pub fn scan(&self, chunk: &[u8], hits: &mut Vec<usize>, found: &mut Vec<u64>, newlines: &mut Vec<usize>, backslashes: &mut Vec<usize>) {
        newlines.clear();
        backslashes.clear();
        let first_hit = hits.len();
        // SAFETY: `new` only builds a search where AVX2 is available.
        #[cfg(target_arch = "x86_64")]
        let done = unsafe {
            match self.width {
                1 => self.scan_avx2::<1>(chunk, hits, found, newlines, backslashes),
                2 => self.scan_avx2::<2>(chunk, hits, found, newlines, backslashes),
                _ => self.scan_avx2::<3>(chunk, hits, found, newlines, backslashes),
            }
        };
        #[cfg(not(target_arch = "x86_64"))]
        let done = 0;
        for (pos, &byte) in chunk.iter().enumerate().skip(done) {
            match byte {
                b'\n' => newlines.push(pos),
                b'\\' => backslashes.push(pos),
                _ => {}
            }
        }
        // Literals whose tested bytes end at `done` or later, one by one.
        let first_unsettled = |i: usize| (done + 1).saturating_sub(self.width + self.offsets[i]);
        let from = (0..self.literals.len()).map(first_unsettled).min().unwrap_or(chunk.len());
        for pos in from..chunk.len() {
            let here = self
                .literals
                .iter()
                .enumerate()
                .filter(|&(i, l)| pos >= first_unsettled(i) && starts_with_caseless(&chunk[pos..], l))
                .fold(0u64, |m, (i, _)| m | 1 << i);
            if here != 0 {
                hits.push(pos);
                found.push(here);
            }
        }
        in_order(hits, found, first_hit);
    }

    /// Verify the buckets in `candidates` whose tested bytes end at `end`: every literal
    /// of them is tried, so a literal not reported does not start where its tested bytes
    /// would put it. Found literals are appended in the order of their tested bytes' ends;
    /// [`in_order`] sorts them by start.
    #[inline]
    fn verify(&self, chunk: &[u8], end: usize, candidates: u8, hits: &mut Vec<usize>, found: &mut Vec<u64>) {
        let mut bits = candidates;
        while bits != 0 {
            let bucket = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            for &i in &self.buckets[bucket] {
                let Some(pos) = (end + 1).checked_sub(self.width + self.offsets[i]) else { continue };
                if starts_with_caseless(&chunk[pos..], &self.literals[i]) {
                    hits.push(pos);
                    found.push(1 << i);
                }
            }
        }
    }

    /// The vector loop over 32 bytes at a time, `W` tested bytes per literal. Returns
    /// the first byte it did not handle: line ends, backslashes and tested bytes ending
    /// there or later are left to the caller.
    ///
    /// Each block's bytes are looked up once per tested literal byte; a literal byte `k`
    /// lookup is moved `W - 1 - k` positions up (taking the previous block's last ones),
    /// so one `and` finds every position where a literal's first `W` bytes *end*. (Loading
    /// the chunk again at +1 and +2 instead took twice the lookups.)
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn scan_avx2<const W: usize>(
        &self,
        chunk: &[u8],
        hits: &mut Vec<usize>,
        found: &mut Vec<u64>,
        newlines: &mut Vec<usize>,
        backslashes: &mut Vec<usize>,
    ) -> usize {
        use std::arch::x86_64::*;
        let mut low = [_mm256_setzero_si256(); 3];
        let mut high = [_mm256_setzero_si256(); 3];
        for k in 0..3 {
            // SAFETY: 16-byte unaligned loads of 16-byte arrays; both 128-bit lanes get
            // the table, as the byte shuffle looks up within each lane.
            low[k] = _mm256_broadcastsi128_si256(unsafe { _mm_loadu_si128(self.low[k].as_ptr().cast()) });
            high[k] = _mm256_broadcastsi128_si256(unsafe { _mm_loadu_si128(self.high[k].as_ptr().cast()) });
        }
        let nibble = _mm256_set1_epi8(0x0F);
        let newline = _mm256_set1_epi8(b'\n' as i8);
        let backslash = _mm256_set1_epi8(b'\\' as i8);
        let zero = _mm256_setzero_si256();
        let mut lanes = [0u8; 32];
        // The buckets each byte of `v` may be byte `k` of, for every tested `k`.
        macro_rules! lookups {
            ($v:expr) => {{
                let lo = _mm256_and_si256($v, nibble);
                let hi = _mm256_and_si256(_mm256_srli_epi16($v, 4), nibble);
                let mut r = [zero; 3];
                for k in 0..W {
                    r[k] = _mm256_and_si256(_mm256_shuffle_epi8(low[k], lo), _mm256_shuffle_epi8(high[k], hi));
                }
                r
            }};
        }
        // `cur` moved up by 1 (`alignr` 15) or 2 (14) bytes, `prev`'s last bytes first.
        macro_rules! up {
            ($cur:expr, $prev:expr, $shift:literal) => {
                _mm256_alignr_epi8::<$shift>($cur, _mm256_permute2x128_si256::<0x21>($prev, $cur))
            };
        }
        // Per byte: the buckets of which some literal's first `W` bytes end there.
        macro_rules! ends {
            ($r:expr, $prev:expr) => {
                match W {
                    1 => $r[0],
                    2 => _mm256_and_si256($r[1], up!($r[0], $prev[0], 15)),
                    _ => _mm256_and_si256($r[2], _mm256_and_si256(up!($r[1], $prev[1], 15), up!($r[0], $prev[0], 14))),
                }
            };
        }
        // Record the candidates (as literal starts), line ends and backslashes of the
        // block at `$at`.
        macro_rules! settle {
            ($at:expr, $bytes:expr, $ends:expr) => {{
                let mut candidates = !(_mm256_movemask_epi8(_mm256_cmpeq_epi8($ends, zero)) as u32);
                if candidates != 0 {
                    // SAFETY: a 32-byte store into a 32-byte array.
                    unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), $ends) };
                    while candidates != 0 {
                        let j = candidates.trailing_zeros() as usize;
                        candidates &= candidates - 1;
                        self.verify(chunk, $at + j, lanes[j], hits, found);
                    }
                }
                let mut nl = _mm256_movemask_epi8(_mm256_cmpeq_epi8($bytes, newline)) as u32;
                while nl != 0 {
                    newlines.push($at + nl.trailing_zeros() as usize);
                    nl &= nl - 1;
                }
                let mut bs = _mm256_movemask_epi8(_mm256_cmpeq_epi8($bytes, backslash)) as u32;
                while bs != 0 {
                    backslashes.push($at + bs.trailing_zeros() as usize);
                    bs &= bs - 1;
                }
            }};
        }
        let mut prev = [zero; 3];
        let mut i = 0;
        // 64 bytes per step with one branch: most steps have no candidate, line end or
        // backslash at all.
        while i + 64 <= chunk.len() {
            // SAFETY: `i + 64 <= chunk.len()`.
            let (a, b) = unsafe { (_mm256_loadu_si256(chunk.as_ptr().add(i).cast()), _mm256_loadu_si256(chunk.as_ptr().add(i + 32).cast())) };
            let (ra, rb) = (lookups!(a), lookups!(b));
            let (ends_a, ends_b) = (ends!(ra, prev), ends!(rb, ra));
            let lines_a = _mm256_or_si256(_mm256_cmpeq_epi8(a, newline), _mm256_cmpeq_epi8(a, backslash));
            let lines_b = _mm256_or_si256(_mm256_cmpeq_epi8(b, newline), _mm256_cmpeq_epi8(b, backslash));
            let any = _mm256_or_si256(_mm256_or_si256(ends_a, ends_b), _mm256_or_si256(lines_a, lines_b));
            if _mm256_testz_si256(any, any) == 0 {
                settle!(i, a, ends_a);
                settle!(i + 32, b, ends_b);
            }
            prev = rb;
            i += 64;
        }
        while i + 32 <= chunk.len() {
            // SAFETY: `i + 32 <= chunk.len()`.
            let a = unsafe { _mm256_loadu_si256(chunk.as_ptr().add(i).cast()) };
            let ra = lookups!(a);
            let ends_a = ends!(ra, prev);
            settle!(i, a, ends_a);
            prev = ra;
            i += 32;
        }
        // Every end before `i` is settled. (Ends before the chunk's `W - 1`th byte are
        // zero: there is no previous block.)
        i
    }
}

/// The nibbles one bucket admits at each tested byte: bit `n` of `low[k]` / `high[k]` set
/// when byte `k` may have low / high nibble `n`.
#[derive(Debug, Clone, Copy, Default)]
struct Fingerprint {
    low: [u16; 3],
    high: [u16; 3],
}

impl Fingerprint {
    fn of(literals: &[&[u8]], width: usize) -> Self {
        let mut f = Fingerprint::default();
        for lit in literals {
            for (k, &byte) in lit.iter().take(width).enumerate() {
                f.low[k] |= 1 << (byte & 0x0F);
                f.high[k] |= 1 << (byte >> 4);
                if byte.is_ascii_lowercase() {
                    f.high[k] |= 1 << (byte.to_ascii_uppercase() >> 4);
                }
            }
        }
        f
    }

    fn merge(self, other: Self) -> Self {
        let mut f = self;
        for k in 0..3 {
            f.low[k] |= other.low[k];
            f.high[k] |= other.high[k];
        }
        f
    }

    fn admits(&self, gram: &[u8]) -> bool {
        gram.iter().enumerate().all(|(k, &b)| self.low[k] & (1 << (b & 0x0F)) != 0 && self.high[k] & (1 << (b >> 4)) != 0)
    }
}

/// Literals per bucket (at most 8 buckets), given each literal's tested bytes. Literals
/// sharing a bucket also admit every mix of their nibbles (`ins` with `nod` admits `int`,
/// common in JSON), and each admitted position is a candidate to verify; so when literals
/// outnumber buckets, the pairs merged are those whose mix admits the fewest positions of
/// the sample.
fn group_into_buckets(windows: &[&[u8]], width: usize, grams: &GramCounts) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = (0..windows.len()).map(|i| vec![i]).collect();
    if groups.len() <= 8 {
        return groups;
    }
    // Merging greedily costs pairs × distinct grams per step: fine for the handful of
    // anchors a rule set has; beyond 16 literals, round-robin.
    if groups.len() > 16 {
        let mut out = vec![Vec::new(); 8];
        for i in 0..windows.len() {
            out[i % 8].push(i);
        }
        return out;
    }
    let grams: Vec<([u8; 3], u32)> =
        grams.counts.iter().map(|(&g, &n)| ([(g >> 16) as u8, (g >> 8) as u8, g as u8], n)).map(|(g, n)| (shift_to_front(g, width), n)).collect();
    let admitted = |f: &Fingerprint| grams.iter().filter(|(g, _)| f.admits(&g[..width])).map(|(_, n)| u64::from(*n)).sum::<u64>();
    let mut prints: Vec<Fingerprint> = groups.iter().map(|g| Fingerprint::of(&[windows[g[0]]], width)).collect();
    let mut cost: Vec<u64> = prints.iter().map(admitted).collect();
    while groups.len() > 8 {
        let mut best = (u64::MAX, 0, 1, Fingerprint::default(), 0);
        for a in 0..groups.len() {
            for b in a + 1..groups.len() {
                let merged = prints[a].merge(prints[b]);
                let together = admitted(&merged);
                let extra = together.saturating_sub(cost[a] + cost[b]);
                if extra < best.0 {
                    best = (extra, a, b, merged, together);
                }
            }
        }
        let (_, a, b, merged, together) = best;
        let moved = groups.remove(b);
        groups[a].extend(moved);
        prints.remove(b);
        cost.remove(b);
        prints[a] = merged;
        cost[a] = together;
    }
    groups
}

/// How often each `width`-byte gram occurs in a sample, ASCII case folded. The grams are
/// packed into a `u32` and hashed with one multiplication: with the default SipHash,
/// counting them was most of the planning cost, which every decoder pays once
/// (callgrind).
struct GramCounts {
    counts: std::collections::HashMap<u32, u32, std::hash::BuildHasherDefault<GramHasher>>,
}

/// Sample bytes whose grams are counted: about 120 Endpoint events. (A quarter of that
/// chose worse windows: 994.1 M instructions for a seed-rule replay against 985.0 M.)
const GRAM_SAMPLE_BYTES: usize = 256 * 1024;

impl GramCounts {
    fn of(sample: &[u8], width: usize) -> Self {
        let mut counts: std::collections::HashMap<u32, u32, std::hash::BuildHasherDefault<GramHasher>> = std::collections::HashMap::default();
        for w in sample[..sample.len().min(GRAM_SAMPLE_BYTES)].windows(width) {
            *counts.entry(pack(w)).or_insert(0) += 1;
        }
        GramCounts { counts }
    }

    /// Occurrences of `gram` (lower-case) in any case.
    fn count(&self, gram: &[u8]) -> u32 {
        // Every case of the gram's letters: at most 3 letters, so at most 8 spellings.
        let letters: Vec<usize> = (0..gram.len()).filter(|&k| gram[k].is_ascii_lowercase()).collect();
        let mut total = 0;
        for mask in 0..1u32 << letters.len() {
            let mut spelling = gram.to_vec();
            for (bit, &k) in letters.iter().enumerate() {
                if mask >> bit & 1 == 1 {
                    spelling[k] = spelling[k].to_ascii_uppercase();
                }
            }
            total += self.counts.get(&pack(&spelling)).copied().unwrap_or(0);
        }
        total
    }
}

/// Up to 3 bytes packed into the low end of a `u32`.
fn pack(gram: &[u8]) -> u32 {
    gram.iter().fold(0u32, |g, &b| g << 8 | u32::from(b))
}

/// Sort the hits from `from` on by position, one entry per position. The vector loop
/// finds literals in the order their tested bytes end, which with different offsets is
/// not their order of start.
fn in_order(hits: &mut Vec<usize>, found: &mut Vec<u64>, from: usize) {
    if hits[from..].windows(2).all(|w| w[0] < w[1]) {
        return;
    }
    let mut pairs: Vec<(usize, u64)> = hits.drain(from..).zip(found.drain(from..)).collect();
    pairs.sort_unstable_by_key(|p| p.0);
    for (pos, literals) in pairs {
        match found.last_mut() {
            Some(last) if hits.len() > from && hits.last() == Some(&pos) => *last |= literals,
            _ => {
                hits.push(pos);
                found.push(literals);
            }
        }
    }
}

/// The `width` gram bytes packed at the low end of `g` (see [`group_into_buckets`]),
/// moved to its front.
fn shift_to_front(g: [u8; 3], width: usize) -> [u8; 3] {
    let mut out = [0u8; 3];
    out[..width].copy_from_slice(&g[3 - width..]);
    out
}

/// Hashes a packed gram with one multiplication (the keys are a sample's own bytes; no
/// protection against chosen collisions is needed for a one-time count).
#[derive(Default)]
struct GramHasher(u64);

impl std::hash::Hasher for GramHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn finish(&self) -> u64 {
        // Table positions come from the low bits: fold the well-mixed high half in.
        self.0 ^ self.0 >> 29
    }
}

/// `hay` starts with `literal`, ignoring ASCII case.
#[inline]
fn starts_with_caseless(hay: &[u8], literal: &[u8]) -> bool {
    hay.get(..literal.len()).is_some_and(|h| h.eq_ignore_ascii_case(literal))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every position where some literal starts, with the literals starting there (brute
    /// force).
    fn naive(chunk: &[u8], literals: &[&[u8]]) -> Vec<(usize, u64)> {
        let lower = chunk.to_ascii_lowercase();
        let here = |p: usize| literals.iter().enumerate().filter(|(_, l)| lower[p..].starts_with(&l.to_ascii_lowercase())).fold(0u64, |m, (i, _)| m | 1 << i);
        (0..chunk.len()).map(|p| (p, here(p))).filter(|&(_, m)| m != 0).collect()
    }

    #[test]
    fn finds_what_brute_force_finds() {
        let Some(_) = CaselessSearch::new(&[b"x"], b"") else {
            eprintln!("no AVX2 here: the search is not used, nothing to test");
            return;
        };
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        // Small alphabets so literals occur often, at every alignment and across the end;
        // bytes whose nibbles collide with letters' (`@`, `[`, `` ` ``, `{`, 0xC1…).
        let alphabet = b"aAbBcCzZ@[`{\n\\\"\xC1\xE1 0";
        let pool: &[&[u8]] = &[b"a", b"ab", b"abc", b"zz", b"Cab", b"b@", b"{\"a", b"abcabcab", b"zazazazaza", b"c0", b"\\\"a", b"`a"];
        for round in 0..3000 {
            let n_lits = 1 + (next() % 20) as usize;
            let mut lits: Vec<&[u8]> = (0..n_lits).map(|_| pool[next() as usize % pool.len()]).collect();
            if round % 3 == 0 {
                lits.retain(|l| l.len() >= 3);
                if lits.is_empty() {
                    lits.push(b"abc");
                }
            }
            let len = (next() % 200) as usize;
            let chunk: Vec<u8> = (0..len).map(|_| alphabet[next() as usize % alphabet.len()]).collect();
            let search = CaselessSearch::new(&lits, &chunk[..chunk.len() / 2]).expect("AVX2 is available");
            let (mut hits, mut found, mut newlines, mut backslashes) = (vec![], vec![], vec![5], vec![6]);
            search.scan(&chunk, &mut hits, &mut found, &mut newlines, &mut backslashes);
            let got: Vec<(usize, u64)> = hits.into_iter().zip(found).collect();
            assert_eq!(got, naive(&chunk, &lits), "literals {lits:?} in {:?}", String::from_utf8_lossy(&chunk));
            assert_eq!(newlines, memchr::memchr_iter(b'\n', &chunk).collect::<Vec<_>>());
            assert_eq!(backslashes, memchr::memchr_iter(b'\\', &chunk).collect::<Vec<_>>());
        }
    }

    #[test]
    fn refuses_what_it_cannot_search() {
        assert!(CaselessSearch::build(&[], b"").is_none());
        assert!(CaselessSearch::build(&[b"a", b""], b"").is_none());
        let many: Vec<Vec<u8>> = (0..=MAX_LITERALS).map(|i| format!("l{i}").into_bytes()).collect();
        assert!(CaselessSearch::build(&many.iter().map(|l| &l[..]).collect::<Vec<_>>(), b"").is_none());
    }
}
