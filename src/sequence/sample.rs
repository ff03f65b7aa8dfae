//! `sample by …` queries: events that share the join keys and match every filter, in
//! any order and at any distance in time.
//!
//! Elasticsearch (`SampleIterator`) joins the filters' key buckets, then for each key
//! tuple fetches up to N hits per filter (N = number of filters, in index order) and picks
//! N *distinct* events, one per filter, by backtracking; one sample per key tuple, in key
//! order. Here arrival order stands in for index order. A sample needs the whole input,
//! so samples are emitted at the end of input (replay).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Detection, EventRef, Key};

/// Per-rule sample state.
#[derive(Debug)]
pub struct Sampler {
    rule: usize,
    filters: usize,
    /// Per key tuple, per filter: the first N matching events.
    groups: BTreeMap<Key, Vec<Vec<Arc<EventRef>>>>,
    cap: usize,
    pub evicted: u64,
}

impl Sampler {
    pub fn new(rule: usize, filters: usize, cap: usize) -> Self {
        Sampler { rule, filters, groups: BTreeMap::new(), cap: cap.max(1), evicted: 0 }
    }

    /// Record that `event` matches filter `stage` under `key`.
    pub fn add(&mut self, stage: usize, key: Key, event: &Arc<EventRef>) {
        if !self.groups.contains_key(&key) && self.groups.len() >= self.cap {
            // Bounded memory: a flood of distinct keys is refused and counted.
            self.evicted += 1;
            return;
        }
        let n = self.filters;
        let g = self.groups.entry(key).or_insert_with(|| vec![Vec::new(); n]);
        if g[stage].len() < n && !g[stage].iter().any(|e| Arc::ptr_eq(e, event)) {
            g[stage].push(event.clone());
        }
    }

    /// End of input: one sample per key tuple that has distinct events for every filter.
    pub fn flush(&mut self, out: &mut Vec<Detection>) {
        for (key, hits) in std::mem::take(&mut self.groups) {
            let mut chosen: Vec<Arc<EventRef>> = Vec::with_capacity(self.filters);
            if pick(&hits, 0, &mut chosen) {
                out.push(Detection {
                    rule: self.rule,
                    events: chosen.iter().enumerate().map(|(i, e)| EventRef { stage: i, ..(**e).clone() }).collect(),
                    join_keys: key.iter().map(|k| k.as_deref().map(str::to_string)).collect(),
                });
            }
        }
    }
}

/// Choose one event per filter, all distinct (backtracking, first choice first).
fn pick(hits: &[Vec<Arc<EventRef>>], stage: usize, chosen: &mut Vec<Arc<EventRef>>) -> bool {
    if stage == hits.len() {
        return true;
    }
    for e in &hits[stage] {
        if chosen.iter().any(|c| Arc::ptr_eq(c, e)) {
            continue;
        }
        chosen.push(e.clone());
        if pick(hits, stage + 1, chosen) {
            return true;
        }
        chosen.pop();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn ev(id: &str) -> Arc<EventRef> {
        Arc::new(EventRef { raw: Bytes::new(), origin: Arc::from("t"), line: 1, timestamp_ms: 0, tiebreaker: None, stage: 0, event_id: Some(id.into()) })
    }

    #[test]
    fn distinct_events_by_backtracking() {
        let (d1, d3, d4, d5) = (ev("1"), ev("3"), ev("4"), ev("5"));
        let key: Key = vec![Some("k".into())].into();
        let mut s = Sampler::new(0, 3, 10);
        for e in [&d1, &d3] {
            s.add(0, key.clone(), e);
        }
        for e in [&d4, &d5] {
            s.add(1, key.clone(), e);
        }
        for e in [&d4, &d5, &d3] {
            s.add(2, key.clone(), e);
        }
        let other: Key = vec![Some("j".into())].into();
        s.add(0, other.clone(), &d1);
        s.add(1, other.clone(), &d1);
        s.add(2, other, &d1);
        let mut out = Vec::new();
        s.flush(&mut out);
        assert_eq!(out.len(), 1, "one event cannot fill three filters");
        let ids: Vec<_> = out[0].events.iter().map(|e| e.event_id.clone().unwrap()).collect();
        assert_eq!(ids, ["1", "4", "5"]);
    }
}
