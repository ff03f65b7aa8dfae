//! The "eBPF-style" early drop: a byte-level test that discards lines which cannot match
//! any stage of any loaded rule, before any JSON parsing.
//!
//! From each stage predicate we derive a *necessary* condition over literals: a positive
//! test of a field against literal strings (`==`, `:`, `like`, `in`) can only pass if one
//! of those literals (for wildcard patterns: the longest literal run between wildcards)
//! occurs in the raw line. `and` needs all of its parts, `or` needs one; anything under
//! `not`, numeric comparisons and other tests need nothing.
//!
//! Why this is conservative:
//! * Matching is ASCII case-insensitive, a superset of both the case-sensitive tests and
//!   Lucene's case-insensitive ones (for an ASCII pattern, Lucene accepts only the ASCII
//!   case variants). Literals with non-ASCII characters are not used.
//! * A JSON string may spell characters as escapes. Literals containing `"`, `\` or
//!   control characters (which JSON must escape) are not used, and any line containing
//!   `\u` or `\/` (the only escapes that can produce other characters) is passed on.
//!
//! The check may let a non-matching line through, never drop a matching one; property
//! tests in `tests` below and `tests/precheck.rs` try to break that.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

use super::caseless::CaselessSearch;
use crate::filter::pattern::{GlobTok, Pattern};
use crate::filter::predicate::{Predicate, ValueTest};
use crate::rule::CompiledRule;

/// A necessary condition over literal occurrences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    Nothing,
    Literal(usize),
    All(Vec<Need>),
    AnyOf(Vec<Need>),
}

/// How literal occurrences are found.
#[derive(Debug)]
enum Searcher {
    /// Few literals: lower-case the line once, then search each literal with SIMD
    /// `memmem` only when the formula needs it (most lines fail on the first, rarest one).
    Lazy(Vec<memchr::memmem::Finder<'static>>),
    /// Many literals (many rules): one Aho-Corasick pass finds them all.
    AllAtOnce(AhoCorasick),
}

/// Above this many distinct literals, one Aho-Corasick pass beats lazy `memmem` calls.
/// (Seed rule: 18 literals; lazy search measured about 5x faster there, `benches/engine.rs`.)
const LAZY_MAX_LITERALS: usize = 32;

/// The compiled pre-check for a rule set.
#[derive(Debug)]
pub struct Precheck {
    literals: Vec<Vec<u8>>,
    searcher: Option<Searcher>,
    need: Need,
    /// Finds every literal in a sample, to plan anchors. Built once, on the first plan:
    /// every decoder plans on its own first chunk, and building it is costlier than
    /// scanning a chunk.
    sample_counter: std::sync::OnceLock<Option<AhoCorasick>>,
}

thread_local! {
    static LOWERED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Precheck {
    /// Derive the pre-check from every stage of every rule.
    pub fn for_rules(rules: &[CompiledRule]) -> Self {
        let preds: Vec<&Predicate> = rules.iter().flat_map(|r| r.all_stages().map(|s| &s.predicate)).collect();
        Self::for_predicates(&preds)
    }

    /// A line may pass if it may match any of `preds`.
    pub fn for_predicates(preds: &[&Predicate]) -> Self {
        Self::build(preds, LAZY_MAX_LITERALS)
    }

    /// As [`Self::for_predicates`], always with the one-pass Aho-Corasick searcher (the
    /// strategy used for many rules), so tests can exercise it on small rule sets.
    pub fn for_predicates_one_pass(preds: &[&Predicate]) -> Self {
        Self::build(preds, 0)
    }

    fn build(preds: &[&Predicate], lazy_max: usize) -> Self {
        let mut literals: Vec<Vec<u8>> = Vec::new();
        let mut intern = |lit: &[u8]| -> usize {
            let lower = lit.to_ascii_lowercase();
            if let Some(i) = literals.iter().position(|l| *l == lower) {
                return i;
            }
            literals.push(lower);
            literals.len() - 1
        };
        let need = simplify(Need::AnyOf(preds.iter().map(|p| need_of(p, &mut intern)).collect()));
        let need = order_by_rarity(need, &literals);
        let searcher = if literals.is_empty() || need == Need::Nothing {
            None
        } else if literals.len() <= lazy_max {
            Some(Searcher::Lazy(literals.iter().map(|l| memchr::memmem::Finder::new(l).into_owned()).collect()))
        } else {
            AhoCorasickBuilder::new().ascii_case_insensitive(true).match_kind(MatchKind::Standard).build(&literals).ok().map(Searcher::AllAtOnce)
        };
        // If the searcher cannot be built, fall back to passing every line.
        let need = if searcher.is_none() { Need::Nothing } else { need };
        Precheck { literals, searcher, need, sample_counter: std::sync::OnceLock::new() }
    }

    /// True when a line is checked with the one-pass automaton of many literals, which
    /// costs more per line than decoding it (all 89 macOS rules, 20 000 generated events:
    /// about 100 000 instructions a line against 36 000 to decode and filter it).
    pub fn checks_all_at_once(&self) -> bool {
        matches!(self.searcher, Some(Searcher::AllAtOnce(_)))
    }

    /// True when every line passes (nothing to check).
    pub fn is_trivial(&self) -> bool {
        self.need == Need::Nothing
    }

    pub fn literals(&self) -> impl Iterator<Item = &[u8]> {
        self.literals.iter().map(|l| &l[..])
    }

    /// May `line` match some stage? False only when it certainly cannot.
    /// [`Self::may_match`] for a line already lower-cased (ASCII) by the caller, e.g. by
    /// the anchor pass. Lower-casing can only turn more text into escapes and literals,
    /// so the answer stays conservative.
    pub fn may_match_lowered(&self, lowered: &[u8]) -> bool {
        match &self.searcher {
            Some(Searcher::Lazy(finders)) => {
                if has_risky_escape(lowered) {
                    return true;
                }
                let mut memo = [0u8; LAZY_MAX_LITERALS];
                eval_lazy(&self.need, lowered, finders, &mut memo)
            }
            _ => self.may_match(lowered),
        }
    }

    /// [`Self::may_match`] for a line the anchor pass of `filter` found the anchors
    /// `present` in (see [`AnchorFilter::anchors_at`]); `lowered`: the line is already
    /// lower-cased. The same answer, with fewer searches: the anchors' presence and (when
    /// the pass reports every occurrence) absence are not searched for again.
    pub fn may_match_anchored(&self, line: &[u8], lowered: bool, filter: &AnchorFilter, present: u64) -> bool {
        let Some(Searcher::Lazy(finders)) = &self.searcher else {
            return self.may_match(line);
        };
        if has_risky_escape(line) || filter.anchors.len() > 64 {
            return if lowered { self.may_match_lowered(line) } else { self.may_match(line) };
        }
        // 0 = not searched yet, 1 = present, 2 = absent.
        let mut memo = [0u8; LAZY_MAX_LITERALS];
        for (j, &literal) in filter.anchors.iter().enumerate() {
            if present >> j & 1 == 1 {
                memo[literal] = 1;
            } else if filter.complete {
                memo[literal] = 2;
            }
        }
        if lowered {
            return eval_lazy(&filter.need, line, finders, &mut memo);
        }
        LOWERED.with(|buf| {
            let mut buf = buf.borrow_mut();
            lowercase_into(line, &mut buf);
            eval_lazy(&filter.need, &buf, finders, &mut memo)
        })
    }

    pub fn may_match(&self, line: &[u8]) -> bool {
        let Some(searcher) = &self.searcher else { return true };
        if has_risky_escape(line) {
            return true;
        }
        let ac = match searcher {
            Searcher::AllAtOnce(ac) => ac,
            Searcher::Lazy(finders) => {
                return LOWERED.with(|buf| {
                    let mut buf = buf.borrow_mut();
                    lowercase_into(line, &mut buf);
                    // 0 = not searched yet, 1 = present, 2 = absent.
                    let mut memo = [0u8; LAZY_MAX_LITERALS];
                    eval_lazy(&self.need, &buf, finders, &mut memo)
                });
            }
        };
        let n = self.literals.len();
        let mut small = [0u64; 4];
        let mut big: Vec<u64>;
        let found: &mut [u64] = if n <= 256 {
            &mut small
        } else {
            big = vec![0u64; n.div_ceil(64)];
            &mut big
        };
        for m in ac.find_overlapping_iter(line) {
            let i = m.pattern().as_usize();
            found[i / 64] |= 1 << (i % 64);
        }
        eval(&self.need, found)
    }
}

/// A chunk-wide first pass: one search over the whole chunk for a few *anchor* literals
/// such that every line that can pass the pre-check contains one of them (or a risky
/// escape). Lines without a hit are dropped without any per-line work; the others get the
/// full check ([`Precheck::may_match_anchored`]), which already knows which anchors the
/// line holds. The anchors are chosen on a sample of real input: for each `All` the child
/// whose literals occur on the fewest sample lines, for each `AnyOf` all children — so
/// the cover is implied by the condition whatever the sample says.
#[derive(Debug)]
pub struct AnchorFilter {
    search: AnchorSearch,
    newlines: Vec<usize>,
    backslashes: Vec<usize>,
    /// Per offset [`Self::hits`] returned: the anchors starting there (bit `j` =
    /// `anchors[j]`; 0 for a backslash).
    found: Vec<u64>,
    /// The pre-check's literal index of each anchor.
    anchors: Vec<usize>,
    /// The search reports every anchor occurrence (the case-blind one does; the packed
    /// searcher skips overlapping ones), so an anchor not reported in a line is absent.
    complete: bool,
    /// The pre-check's condition with each `All`'s anchored child first: the anchors'
    /// presence is known, so a line failing on them costs no search.
    need: Need,
}

#[derive(Debug)]
enum AnchorSearch {
    /// One case-blind pass over the chunk itself (AVX2).
    Caseless(CaselessSearch),
    /// Lower-case the chunk, then SIMD multi-literal search (Teddy) over the copy, or
    /// per-literal `memmem` where the CPU lacks it.
    Lowered { packed: Option<aho_corasick::packed::Searcher>, finders: Vec<memchr::memmem::Finder<'static>>, lowered: Vec<u8> },
}

impl AnchorFilter {
    /// The lower-cased bytes of the last chunk given to [`Self::hits`], when this filter
    /// made them (the case-blind search does not).
    pub fn lowered(&self) -> Option<&[u8]> {
        match &self.search {
            AnchorSearch::Lowered { lowered, .. } => Some(lowered),
            AnchorSearch::Caseless(_) => None,
        }
    }

    /// Offsets of every `\n` in the last chunk given to [`Self::hits`].
    pub fn newlines(&self) -> &[usize] {
        &self.newlines
    }

    /// Sorted byte offsets in `chunk` of anchor matches and of `\` (a possible escape).
    /// A line with no offset inside it cannot pass the pre-check.
    pub fn hits(&mut self, chunk: &[u8]) -> Vec<usize> {
        let (mut at, mut found) = (Vec::new(), Vec::new());
        match &mut self.search {
            AnchorSearch::Caseless(search) => search.scan(chunk, &mut at, &mut found, &mut self.newlines, &mut self.backslashes),
            AnchorSearch::Lowered { packed, finders, lowered } => {
                lower_and_mark(chunk, lowered, &mut self.newlines, &mut self.backslashes);
                let hay = &lowered[..];
                let mut pairs: Vec<(usize, u64)> = match packed {
                    Some(p) => p.find_iter(hay).map(|m| (m.start(), 1u64.checked_shl(m.pattern().as_u32()).unwrap_or(0))).collect(),
                    None => finders.iter().enumerate().flat_map(|(j, f)| f.find_iter(hay).map(move |h| (h, 1u64.checked_shl(j as u32).unwrap_or(0)))).collect(),
                };
                pairs.sort_unstable_by_key(|p| p.0);
                (at, found) = pairs.into_iter().unzip();
            }
        }
        let mut pairs: Vec<(usize, u64)> = at.into_iter().zip(found).chain(self.backslashes.iter().map(|&b| (b, 0))).collect();
        pairs.sort_unstable_by_key(|p| p.0);
        let out;
        (out, self.found) = pairs.into_iter().unzip();
        out
    }

    /// The anchors (bit `j` = anchor `j`) starting at `hits[range]`, `hits` being what
    /// [`Self::hits`] returned last.
    pub fn anchors_at(&self, range: std::ops::Range<usize>) -> u64 {
        self.found.get(range).map_or(0, |f| f.iter().fold(0, |m, &b| m | b))
    }
}

/// One pass over `chunk`: `lowered` receives its ASCII-lower-cased copy, `newlines` and
/// `backslashes` the offsets of every `\n` and `\`.
///
/// Why one pass: lower-casing, finding line ends and finding escapes were three passes
/// over every byte, together about 15 % of a seed-rule replay on one core (perf).
pub fn lower_and_mark(chunk: &[u8], lowered: &mut Vec<u8>, newlines: &mut Vec<usize>, backslashes: &mut Vec<usize>) {
    lowered.resize(chunk.len(), 0);
    newlines.clear();
    backslashes.clear();
    #[allow(unused_mut)]
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is available (checked just above).
        done = unsafe { lower_and_mark_avx2(chunk, lowered, newlines, backslashes) };
    }
    for (i, (&byte, lower)) in chunk.iter().zip(lowered.iter_mut()).enumerate().skip(done) {
        *lower = byte.to_ascii_lowercase();
        if byte == b'\n' {
            newlines.push(i);
        } else if byte == b'\\' {
            backslashes.push(i);
        }
    }
}

/// `out` becomes the ASCII-lower-cased copy of `line`.
///
/// Why not `extend(map(to_ascii_lowercase))`: that copy ran at about 1.3 instructions a
/// byte, a fifth of the per-line pre-check on the lines it runs on (callgrind).
fn lowercase_into(line: &[u8], out: &mut Vec<u8>) {
    out.resize(line.len(), 0);
    #[allow(unused_mut)]
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is available (checked just above).
        done = unsafe { lowercase_avx2(line, out) };
    }
    for (lower, byte) in out.iter_mut().zip(line).skip(done) {
        *lower = byte.to_ascii_lowercase();
    }
}

/// The 32-byte steps of [`lowercase_into`]; returns how many leading bytes it handled.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn lowercase_avx2(line: &[u8], out: &mut [u8]) -> usize {
    use std::arch::x86_64::*;
    let len = line.len().min(out.len()) / 32 * 32;
    let mut i = 0;
    while i < len {
        // SAFETY: i + 32 <= len <= both slices' lengths; unaligned loads and stores.
        let v = unsafe { _mm256_loadu_si256(line.as_ptr().add(i).cast()) };
        unsafe { _mm256_storeu_si256(out.as_mut_ptr().add(i).cast(), lower_ascii(v)) };
        i += 32;
    }
    len
}

/// ASCII letters of `v` lower-cased, every other byte unchanged.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn lower_ascii(v: std::arch::x86_64::__m256i) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::*;
    // Signed compares: bytes >= 0x80 are negative, so never taken for 'A'..='Z'.
    let upper = _mm256_and_si256(_mm256_cmpgt_epi8(v, _mm256_set1_epi8(b'A' as i8 - 1)), _mm256_cmpgt_epi8(_mm256_set1_epi8(b'Z' as i8 + 1), v));
    _mm256_or_si256(v, _mm256_and_si256(upper, _mm256_set1_epi8(0x20)))
}

/// [`lower_and_mark`] 32 bytes at a time; returns how many leading bytes it handled (a
/// multiple of 32), the rest is left to the caller.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn lower_and_mark_avx2(chunk: &[u8], lowered: &mut [u8], newlines: &mut Vec<usize>, backslashes: &mut Vec<usize>) -> usize {
    use std::arch::x86_64::*;
    let len = chunk.len().min(lowered.len()) / 32 * 32;
    let newline = _mm256_set1_epi8(b'\n' as i8);
    let backslash = _mm256_set1_epi8(b'\\' as i8);
    let mut i = 0;
    while i < len {
        // SAFETY: i + 32 <= len <= both slices' lengths; unaligned loads and stores.
        let v = unsafe { _mm256_loadu_si256(chunk.as_ptr().add(i).cast()) };
        unsafe { _mm256_storeu_si256(lowered.as_mut_ptr().add(i).cast(), lower_ascii(v)) };
        let mut nl = _mm256_movemask_epi8(_mm256_cmpeq_epi8(v, newline)) as u32;
        while nl != 0 {
            newlines.push(i + nl.trailing_zeros() as usize);
            nl &= nl - 1;
        }
        let mut bs = _mm256_movemask_epi8(_mm256_cmpeq_epi8(v, backslash)) as u32;
        while bs != 0 {
            backslashes.push(i + bs.trailing_zeros() as usize);
            bs &= bs - 1;
        }
        i += 32;
    }
    len
}

impl Precheck {
    /// Plan the chunk-wide first pass from a sample of input (e.g. the first chunk).
    /// `None` when no cover exists (some stage needs no literal) or it would not pay.
    pub fn anchor_filter(&self, sample: &[u8]) -> Option<AnchorFilter> {
        self.plan_anchors(sample, true, true)
    }

    /// As [`Self::anchor_filter`], also when it would not pay (for tests); `caseless`
    /// false forces the lower-case-then-search path.
    pub fn anchor_filter_always(&self, sample: &[u8], caseless: bool) -> Option<AnchorFilter> {
        self.plan_anchors(sample, false, caseless)
    }

    fn plan_anchors(&self, sample: &[u8], only_if_it_pays: bool, caseless: bool) -> Option<AnchorFilter> {
        if self.searcher.is_none() || self.literals.is_empty() {
            return None;
        }
        // Lines of the sample containing each literal (a rough frequency).
        // A contiguous NFA: it runs over one sample, so a DFA's longer build never pays.
        let all = self
            .sample_counter
            .get_or_init(|| AhoCorasickBuilder::new().ascii_case_insensitive(true).kind(Some(AhoCorasickKind::ContiguousNFA)).build(&self.literals).ok())
            .as_ref()?;
        let mut freq = vec![0u32; self.literals.len()];
        let mut seen = vec![u32::MAX; self.literals.len()];
        let mut line_no = 0u32;
        let mut line_end = 0usize;
        for m in all.find_overlapping_iter(sample) {
            while m.start() >= line_end {
                line_no += 1;
                line_end = memchr::memchr(b'\n', &sample[line_end..]).map_or(sample.len(), |i| line_end + i + 1);
                if line_end >= sample.len() {
                    break;
                }
            }
            let i = m.pattern().as_usize();
            if seen[i] != line_no {
                seen[i] = line_no;
                freq[i] += 1;
            }
        }
        let lines = memchr::memchr_iter(b'\n', sample).count().max(1) as u32;
        let anchors = cover(&self.need, &freq)?;
        // Worth it only if the anchors leave most lines out.
        let passing: u32 = anchors.iter().map(|&i| freq[i]).sum();
        if only_if_it_pays && passing * 2 > lines {
            return None;
        }
        let pats: Vec<&[u8]> = anchors.iter().map(|&i| &self.literals[i][..]).collect();
        let need = anchored_first(&self.need, &freq);
        let filter = |search, complete| AnchorFilter {
            search,
            newlines: Vec::new(),
            backslashes: Vec::new(),
            found: Vec::new(),
            anchors: anchors.clone(),
            complete,
            need: need.clone(),
        };
        if let Some(search) = CaselessSearch::new(&pats, sample).filter(|_| caseless) {
            return Some(filter(AnchorSearch::Caseless(search), true));
        }
        // Literals are stored lower-cased; the chunk is lower-cased before the search.
        let mut config = aho_corasick::packed::Config::new().builder();
        for p in &pats {
            config.add(p);
        }
        let packed = config.build();
        let finders = pats.iter().map(|p| memchr::memmem::Finder::new(p).into_owned()).collect();
        Some(filter(AnchorSearch::Lowered { packed, finders, lowered: Vec::new() }, false))
    }
}

/// `need` with, in every `All`, the child [`cover`] anchors first (and the rest in their
/// order).
fn anchored_first(need: &Need, freq: &[u32]) -> Need {
    match need {
        Need::All(ns) => {
            let mut ns: Vec<Need> = ns.iter().map(|n| anchored_first(n, freq)).collect();
            let cost = |n: &Need| cover(n, freq).map(|c| c.iter().map(|&i| u64::from(freq[i])).sum::<u64>());
            // The same choice as `cover`'s: the first child of least cost.
            let chosen = ns.iter().enumerate().filter_map(|(i, n)| cost(n).map(|c| (c, i))).min().map(|(_, i)| i);
            if let Some(i) = chosen {
                let n = ns.remove(i);
                ns.insert(0, n);
            }
            Need::All(ns)
        }
        Need::AnyOf(ns) => Need::AnyOf(ns.iter().map(|n| anchored_first(n, freq)).collect()),
        n => n.clone(),
    }
}

/// Literals one of which every line satisfying `need` contains, chosen to be rare in the
/// sample (`freq`: sample lines per literal). `None`: some alternative needs no literal.
fn cover(need: &Need, freq: &[u32]) -> Option<Vec<usize>> {
    match need {
        Need::Nothing => None,
        Need::Literal(i) => Some(vec![*i]),
        // All parts are required: one part's cover is enough; take the rarest.
        Need::All(ns) => ns.iter().filter_map(|n| cover(n, freq)).min_by_key(|c| c.iter().map(|&i| u64::from(freq[i])).sum::<u64>()),
        // Any part may be the one present: every part must be covered.
        Need::AnyOf(ns) => {
            let mut out = Vec::new();
            for n in ns {
                out.extend(cover(n, freq)?);
            }
            out.sort_unstable();
            out.dedup();
            Some(out)
        }
    }
}

/// `\u` can spell any character and `\/` a slash: such lines are always passed on.
fn has_risky_escape(line: &[u8]) -> bool {
    let mut i = 0;
    while let Some(p) = memchr::memchr(b'\\', &line[i..]) {
        let at = i + p;
        match line.get(at + 1) {
            Some(b'u' | b'/') => return true,
            // Skip the escaped character so `\\u` (an escaped backslash, then `u`) is not
            // mistaken for an escape; being wrong here would only pass more lines.
            _ => i = at + 2,
        }
        if i >= line.len() {
            break;
        }
    }
    false
}

fn eval_lazy(need: &Need, lowered: &[u8], finders: &[memchr::memmem::Finder<'static>], memo: &mut [u8]) -> bool {
    match need {
        Need::Nothing => true,
        Need::Literal(i) => {
            if memo[*i] == 0 {
                memo[*i] = if finders[*i].find(lowered).is_some() { 1 } else { 2 };
            }
            memo[*i] == 1
        }
        Need::All(ns) => ns.iter().all(|n| eval_lazy(n, lowered, finders, memo)),
        Need::AnyOf(ns) => ns.iter().any(|n| eval_lazy(n, lowered, finders, memo)),
    }
}

/// Put the likely-rarest requirement first in every `All`, so lazy evaluation usually
/// stops after one search. Longer literals are taken as rarer; an `AnyOf` is as common as
/// its most common alternative.
fn order_by_rarity(n: Need, lits: &[Vec<u8>]) -> Need {
    fn rarity(n: &Need, lits: &[Vec<u8>]) -> usize {
        match n {
            Need::Nothing => 0,
            Need::Literal(i) => lits[*i].len(),
            Need::All(ns) => ns.iter().map(|n| rarity(n, lits)).max().unwrap_or(0),
            Need::AnyOf(ns) => ns.iter().map(|n| rarity(n, lits)).min().unwrap_or(usize::MAX),
        }
    }
    match n {
        Need::All(ns) => {
            let mut ns: Vec<Need> = ns.into_iter().map(|n| order_by_rarity(n, lits)).collect();
            ns.sort_by_key(|n| std::cmp::Reverse(rarity(n, lits)));
            Need::All(ns)
        }
        Need::AnyOf(ns) => Need::AnyOf(ns.into_iter().map(|n| order_by_rarity(n, lits)).collect()),
        n => n,
    }
}

fn eval(need: &Need, found: &[u64]) -> bool {
    match need {
        Need::Nothing => true,
        Need::Literal(i) => found[i / 64] & (1 << (i % 64)) != 0,
        Need::All(ns) => ns.iter().all(|n| eval(n, found)),
        Need::AnyOf(ns) => ns.iter().any(|n| eval(n, found)),
    }
}

/// A literal the raw line must contain verbatim (up to ASCII case) for `text` to be
/// present: ASCII, non-empty, nothing JSON would escape.
fn usable(text: &[u8]) -> bool {
    !text.is_empty() && text.iter().all(|&b| b.is_ascii() && b >= 0x20 && b != b'"' && b != b'\\')
}

fn need_of(p: &Predicate, intern: &mut dyn FnMut(&[u8]) -> usize) -> Need {
    match p {
        Predicate::True | Predicate::Not(_) | Predicate::Exists { .. } | Predicate::Script(_) => Need::Nothing,
        // A predicate that never matches needs an impossible literal; "nothing matches"
        // is represented as an empty AnyOf.
        Predicate::False => Need::AnyOf(vec![]),
        Predicate::And(ps) => simplify(Need::All(ps.iter().map(|p| need_of(p, intern)).collect())),
        Predicate::Or(ps) => simplify(Need::AnyOf(ps.iter().map(|p| need_of(p, intern)).collect())),
        Predicate::Shared { leaf, .. } => need_of(leaf, intern),
        Predicate::Leaf { test, .. } => match test {
            ValueTest::AnyOf(pats) => simplify(Need::AnyOf(pats.iter().map(|p| pattern_need(p, intern)).collect())),
            ValueTest::Number { .. } | ValueTest::Text { .. } | ValueTest::Regex(_) | ValueTest::Cidr(_) | ValueTest::Date { .. } => Need::Nothing,
        },
    }
}

fn pattern_need(p: &Pattern, intern: &mut dyn FnMut(&[u8]) -> usize) -> Need {
    // Whether the literal starts / ends the value, so the string's quote is next to it.
    let (mut starts, mut ends) = (false, false);
    let lit: Vec<u8> = match p {
        Pattern::Exact(l) | Pattern::ExactAsciiCi(l) => {
            (starts, ends) = (true, true);
            l.to_vec()
        }
        Pattern::Prefix { lit, .. } => {
            starts = true;
            lit.to_vec()
        }
        Pattern::Suffix { lit, .. } => {
            ends = true;
            lit.to_vec()
        }
        Pattern::Contains(f) => f.needle().to_vec(),
        Pattern::ContainsAsciiCi(l) => l.to_vec(),
        Pattern::Any => return Need::Nothing,
        Pattern::Glob { tokens, .. } => {
            // Longest run of literal characters between wildcards.
            let mut best = String::new();
            let mut cur = String::new();
            for t in tokens.iter().chain(std::iter::once(&GlobTok::Star)) {
                match t {
                    GlobTok::Char(c) => cur.push(*c),
                    _ => {
                        if usable(cur.as_bytes()) && cur.len() > best.len() {
                            best = cur.clone();
                        }
                        cur.clear();
                    }
                }
            }
            best.into_bytes()
        }
    };
    if !usable(&lit) {
        return Need::Nothing;
    }
    if may_be_bare(&lit, starts, ends) {
        return Need::Literal(intern(&lit));
    }
    // A string value holding (or starting, or ending with) a literal JSON need not escape
    // is written with its quote right there: `"curl"`, not the `curl` of `/usr/bin/curl`.
    let mut quoted = Vec::with_capacity(lit.len() + 2);
    if starts {
        quoted.push(b'"');
    }
    quoted.extend_from_slice(&lit);
    if ends {
        quoted.push(b'"');
    }
    Need::Literal(intern(&quoted))
}

/// Whether a value matched by `lit` (the whole value, its start or its end) may be a
/// JSON number or boolean, which the scanner records as their unquoted text: such a
/// literal is searched without quotes. Conservative: any literal of number characters.
fn may_be_bare(lit: &[u8], starts: bool, ends: bool) -> bool {
    if !starts && !ends {
        return false;
    }
    let number = lit.iter().all(|b| matches!(b, b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-'));
    let fits = |word: &[u8]| {
        lit.len() <= word.len()
            && match (starts, ends) {
                (true, true) => lit.eq_ignore_ascii_case(word),
                (true, false) => word[..lit.len()].eq_ignore_ascii_case(lit),
                _ => word[word.len() - lit.len()..].eq_ignore_ascii_case(lit),
            }
    };
    number || fits(b"true") || fits(b"false")
}

fn simplify(n: Need) -> Need {
    match n {
        Need::All(ns) => {
            let ns: Vec<Need> = ns.into_iter().map(simplify).filter(|n| *n != Need::Nothing).collect();
            match ns.len() {
                0 => Need::Nothing,
                1 => ns.into_iter().next().unwrap_or(Need::Nothing),
                _ => Need::All(ns),
            }
        }
        Need::AnyOf(ns) => {
            let ns: Vec<Need> = ns.into_iter().map(simplify).collect();
            if ns.contains(&Need::Nothing) {
                return Need::Nothing;
            }
            if ns.len() == 1 {
                return ns.into_iter().next().unwrap_or(Need::Nothing);
            }
            Need::AnyOf(ns)
        }
        n => n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::RuleSet;

    #[test]
    fn vector_lower_casing_matches_the_plain_loops() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        // Bytes around the ranges the vector code compares against, and every other byte.
        let interesting = [b'@', b'A', b'Z', b'[', b'`', b'a', b'z', b'{', b'\n', b'\\', 0x80, 0xC1, 0xDA, 0xFF, 0, b' '];
        let (mut lowered, mut newlines, mut backslashes) = (vec![7u8; 5], vec![1], vec![2]);
        let mut only_lowered = vec![9u8; 400];
        for round in 0..2000 {
            let len = (next() % 300) as usize;
            let chunk: Vec<u8> = (0..len).map(|_| if round % 2 == 0 { next() as u8 } else { interesting[next() as usize % interesting.len()] }).collect();
            lower_and_mark(&chunk, &mut lowered, &mut newlines, &mut backslashes);
            assert_eq!(lowered, chunk.to_ascii_lowercase());
            assert_eq!(newlines, memchr::memchr_iter(b'\n', &chunk).collect::<Vec<_>>());
            assert_eq!(backslashes, memchr::memchr_iter(b'\\', &chunk).collect::<Vec<_>>());
            lowercase_into(&chunk, &mut only_lowered);
            assert_eq!(only_lowered, chunk.to_ascii_lowercase());
        }
    }

    #[test]
    fn seed_rule_precheck() {
        let set = RuleSet::embedded_default().unwrap();
        let pc = &set.precheck;
        assert!(!pc.is_trivial());
        let exec = br#"{"event":{"category":["process"],"type":["start"],"action":"exec"},"host":{"os":{"type":"macos"}},"process":{"name":"bash","parent":{"name":"installer"}}}"#;
        assert!(pc.may_match(exec));
        let file = br#"{"event":{"category":["file"],"type":["change"]},"host":{"os":{"type":"macos"}},"process":{"name":"mds"}}"#;
        assert!(!pc.may_match(file));
        let escaped = br#"{"event":{"category":["file"]},"process":{"name":"\u0063url"}}"#;
        assert!(pc.may_match(escaped));
    }

    #[test]
    fn anchors_cover_every_passing_line() {
        let set = RuleSet::embedded_default().unwrap();
        let pc = &set.precheck;
        let exec = br#"{"event":{"category":["process"],"type":["start"],"action":"exec"},"host":{"os":{"type":"macos"}},"process":{"name":"bash","parent":{"name":"installer"}}}"#;
        let file = br#"{"event":{"category":["file"],"type":["change"]},"host":{"os":{"type":"macos"}},"process":{"name":"mds"}}"#;
        let escaped = br#"{"event":{"category":["file"]},"process":{"name":"\u0063url"}}"#;
        let mut chunk = Vec::new();
        for _ in 0..20 {
            chunk.extend_from_slice(file);
            chunk.push(b'\n');
        }
        let sample = chunk.clone();
        for l in [&exec[..], &escaped[..]] {
            chunk.extend_from_slice(l);
            chunk.push(b'\n');
        }
        assert!(pc.anchor_filter(&sample).is_some(), "the seed rule has a cover");
        for caseless in [true, false] {
            let mut filter = pc.anchor_filter_always(&sample, caseless).expect("the seed rule has a cover");
            let hits = filter.hits(&chunk);
            assert_eq!(filter.newlines(), memchr::memchr_iter(b'\n', &chunk).collect::<Vec<_>>());
            let line_has_hit = |start: usize, end: usize| hits.iter().any(|&h| h >= start && h < end);
            let mut start = 0;
            for line in chunk.split(|&b| b == b'\n') {
                let end = start + line.len();
                if pc.may_match(line) {
                    assert!(line_has_hit(start, end), "{}", String::from_utf8_lossy(line));
                }
                start = end + 1;
            }
            assert!(!line_has_hit(0, file.len()), "a line that cannot match has no anchor");
        }
    }

    /// Numbers and booleans are compared as their JSON text, which has no quotes: a
    /// literal such a value could match is searched bare, any other with the quote next
    /// to it (so `"curl"` is not found in `/usr/bin/curl`).
    #[test]
    fn quotes_only_where_the_value_must_be_a_string() {
        use crate::filter::pattern::Pattern;
        use crate::filter::predicate::ValueTest;
        let cases: [(Pattern, &str, bool); 14] = [
            (Pattern::equals("TRUE", true), r#"{"a":true}"#, true),
            (Pattern::equals("true", false), r#"{"a":true}"#, true),
            (Pattern::wildcard("tr*", true), r#"{"a":true}"#, true),
            (Pattern::wildcard("*ue", false), r#"{"a":true}"#, true),
            (Pattern::wildcard("*lse", false), r#"{"a":false}"#, true),
            (Pattern::equals("-12", false), r#"{"a":-12}"#, true),
            (Pattern::wildcard("4.2*", false), r#"{"a":4.25}"#, true),
            (Pattern::equals("1e2", true), r#"{"a":1E2}"#, true),
            (Pattern::equals("curl", true), r#"{"a":"curl"}"#, true),
            (Pattern::equals("curl", true), r#"{"a":"/usr/bin/curl"}"#, false),
            (Pattern::wildcard("cu*", true), r#"{"a":"xcurl"}"#, false),
            (Pattern::wildcard("cu*", true), r#"{"a":["x","CUrl"]}"#, true),
            (Pattern::wildcard("*rl", true), r#"{"a":"curlx"}"#, false),
            (Pattern::wildcard("*u*", true), r#"{"a":"curlx"}"#, true),
        ];
        for (pattern, line, passes) in cases {
            let leaf = Predicate::Leaf { column: 0, test: ValueTest::AnyOf(vec![pattern.clone()]) };
            let pc = Precheck::for_predicates(&[&leaf]);
            assert_eq!(pc.may_match(line.as_bytes()), passes, "{pattern:?} on {line}");
        }
    }

    #[test]
    fn escapes_are_detected() {
        assert!(has_risky_escape(br#""a\u0041""#));
        assert!(has_risky_escape(br#""a\/b""#));
        assert!(!has_risky_escape(br#""a\\u""#));
        assert!(!has_risky_escape(br#""a\"b""#));
    }
}
