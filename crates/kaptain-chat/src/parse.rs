//! Plain words → [`Request`], by rules (no model, no network): the same question always reads
//! the same way, and what was not understood is said back in `ignored`.
//!
//! The rules run in this order; each takes the words it reads, so a later rule never re-reads
//! them:
//! 1. Words: lowercase; split on spaces, punctuation and `=`/`<`/`>` (`ns=shop`); `key:value`
//!    split after a keyword (`namespace:shop`); possessives cut (`checkout's` → `checkout`); a
//!    kind written in several words joined (`config map` → `configmap`).
//! 2. Check ids (`pod.crash-loop`), then everyday problem phrases (`crash looping`, `OOMKilled`;
//!    [`words::PROBLEMS`]); "high"/"low" just before one is an amount ("high restarts"), not a
//!    severity.
//! 3. Slashed objects: `svc/api`, `deployment.apps/checkout`, `shop/checkout` (namespace/name,
//!    as Kaptain prints objects), `ns/shop`.
//! 4. Keywords with a value: `namespace shop`, `the shop namespace`, `-n shop`, `ns=shop`,
//!    `cluster prod`, `--context prod`. Then prepositions: `in`/`on`/`across` + a word is the
//!    cluster when a cluster has that name, else the namespace; `with`/`about`/`for`/`of` + a
//!    word is the object asked about.
//! 5. Kinds, with a name next to them (`service api`, `the api service`); a plural kind
//!    (`pods`) filters by kind.
//! 6. States whose check depends on the kind (`pending` pods, PVCs, Services;
//!    [`words::STATES`]), only when no object is named.
//! 7. Severities (several: the lowest, since "critical or high" means at least high) and
//!    categories.
//! 8. A kind and a check that cannot go together (`pods` with `missing secrets`: the finding is
//!    on the Secret) would match nothing: with an object named, the object wins (its cause chain
//!    shows the problem); without, the problem wins. A category the check is not in is dropped
//!    ("volume mount errors" is pod.container-creating, not storage).
//! 9. The intent, from cue words and what was read; a free word that can be a name is the
//!    object asked about when the question asks about something ("why is checkout down?").
//!    Why/fix about one named object keep its whole cause chain: problem words do not narrow
//!    it ("why is ledger crashing?" when ledger is OOM-killed); a check id written out does.
//!
//! A number is never a name ("within 30 days"), and topics no check reads ("dns", "logs") are
//! always said back.

use crate::request::{Intent, Request};
use crate::words;

/// What the asker's side knows that helps read a question.
#[derive(Debug, Clone, Copy, Default)]
pub struct Known<'a> {
    /// The clusters (contexts) the asker can see: "in prod" means the cluster when one is
    /// called prod, the namespace otherwise.
    pub clusters: &'a [String],
}

/// Reads a question. Errors only when there is nothing to read.
pub fn parse(text: &str, known: &Known) -> Result<Request, String> {
    let toks = tokens(text);
    if toks.is_empty() {
        return Err("the question is empty: ask e.g. \"what is wrong in namespace shop?\"".into());
    }
    // A request to act ("scale web to 5") is read by its own rules.
    if let Some(act) = crate::act::parse_act(text, known.clusters) {
        return act.map(Request::act);
    }
    let mut p = Parser {
        used: vec![false; toks.len()],
        toks,
        req: Request::new(Intent::Diagnose),
        check_at: None,
    };
    p.check_ids();
    p.problems();
    p.slashed_objects();
    p.keyword_values(known);
    p.kinds_and_names();
    p.states();
    p.attributes();
    p.reconcile();
    Ok(p.finish(known))
}

/// Keywords whose value may follow a colon (`namespace:shop`).
const KEYS: &[&str] = &[
    "namespace",
    "ns",
    "cluster",
    "context",
    "severity",
    "sev",
    "category",
    "kind",
    "check",
];

/// Lowercase words, split on spaces and punctuation that never belongs to a name; quotes and
/// trailing dots dropped, possessives cut (`checkout's` → `checkout`), kinds in several words
/// joined.
fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    // Chat apps turn `--namespace` into an em dash and `-n` into an en dash.
    let text = text
        .replace(['’', '‘'], "'")
        .replace('—', "--")
        .replace('–', "-");
    let raw = text.split(|c: char| c.is_whitespace() || ",;!?()[]{}\"“”`<>=".contains(c));
    for r in raw {
        let parts = match r.split_once(':') {
            Some((k, v)) if KEYS.contains(&k.to_lowercase().as_str()) => vec![k, v],
            _ => vec![r],
        };
        for part in parts {
            let t = part
                .trim_matches(|c: char| "'.:".contains(c))
                .to_lowercase();
            let t = match t.strip_suffix("'s") {
                Some(stem) if !stem.is_empty() => stem.to_string(),
                _ => t,
            };
            if !t.is_empty() {
                out.push(t);
            }
        }
    }
    join_kinds(out)
}

/// `config map` → `configmap`, `persistent volume claims` → `persistentvolumeclaims`: two or
/// three words that together spell a kind are that kind.
fn join_kinds(toks: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(toks.len());
    let mut i = 0;
    while i < toks.len() {
        let joined = [3, 2].into_iter().find_map(|n| {
            let parts = toks.get(i..i + n)?;
            let w = parts.concat();
            words::kind(&w).is_some().then_some((w, n))
        });
        match joined {
            Some((w, n)) => {
                out.push(w);
                i += n;
            }
            None => {
                out.push(toks[i].clone());
                i += 1;
            }
        }
    }
    out
}

struct Parser {
    toks: Vec<String>,
    used: Vec<bool>,
    req: Request,
    /// Where the check was read: (first word, word count).
    check_at: Option<(usize, usize)>,
}

impl Parser {
    fn free(&self, i: usize) -> Option<&str> {
        (i < self.toks.len() && !self.used[i]).then(|| self.toks[i].as_str())
    }

    /// A free word at `i` that can be a name and is not a word of the vocabulary nor a number.
    fn name_at(&self, i: usize) -> Option<String> {
        self.free(i).filter(|w| can_name(w)).map(str::to_string)
    }

    fn take(&mut self, i: usize) {
        self.used[i] = true;
    }

    fn set_check(&mut self, id: &str, at: usize, len: usize) {
        if self.req.check.is_none() {
            self.req.check = Some(id.to_string());
            self.check_at = Some((at, len));
        }
    }

    /// Check ids written out (`pod.crash-loop`).
    fn check_ids(&mut self) {
        let catalog = kaptain_analyze::catalog();
        for i in 0..self.toks.len() {
            if let Some(c) = catalog.iter().find(|c| c.info.id == self.toks[i]) {
                self.set_check(c.info.id, i, 1);
                self.take(i);
            }
        }
    }

    /// The first of `phrases` that starts at word `i` with every word free.
    fn phrase_at<'p, T>(
        &self,
        i: usize,
        phrases: &'p [T],
        words_of: impl Fn(&T) -> &[&str],
    ) -> Option<&'p T> {
        phrases.iter().find(|p| {
            let ws = words_of(p);
            ws.iter()
                .enumerate()
                .all(|(k, w)| self.free(i + k) == Some(w))
        })
    }

    /// Everyday names of problems ("crash looping", "out of memory").
    fn problems(&mut self) {
        let mut i = 0;
        while i < self.toks.len() {
            match self.phrase_at(i, words::PROBLEMS, |p| p.0) {
                Some((phrase, id)) => {
                    self.set_check(id, i, phrase.len());
                    for k in 0..phrase.len() {
                        self.take(i + k);
                    }
                    // "high restarts", "low memory": an amount of the problem, not a severity.
                    if i > 0 && matches!(self.free(i - 1), Some("high" | "low")) {
                        self.take(i - 1);
                    }
                    i += phrase.len();
                }
                None => i += 1,
            }
        }
    }

    /// `deploy/checkout`, `deployment.apps/checkout`, `svc/api` as kubectl writes them;
    /// `shop/checkout` as Kaptain prints objects; `ns/shop`.
    fn slashed_objects(&mut self) {
        for i in 0..self.toks.len() {
            if self.used[i] {
                continue;
            }
            let Some((k, n)) = self.toks[i].split_once('/') else {
                continue;
            };
            let (k, n) = (k.to_string(), n.to_string());
            if !words::is_name(&n) {
                continue;
            }
            let group_less = k.split('.').next().unwrap_or_default();
            if matches!(k.as_str(), "ns" | "namespace" | "namespaces") {
                if self.req.namespace.is_none() {
                    self.req.namespace = Some(n);
                    self.take(i);
                }
            } else if let Some(kind) = words::kind(group_less) {
                if self.req.name.is_none() {
                    self.req.kind = Some(kind.to_string());
                    self.req.name = Some(n);
                    self.take(i);
                }
            } else if can_name(&k) && can_name(&n) && self.req.name.is_none() {
                if self.req.namespace.is_none() {
                    self.req.namespace = Some(k);
                }
                self.req.name = Some(n);
                self.take(i);
            }
        }
    }

    /// `namespace shop`, `shop namespace`, `-n shop`, `cluster prod`, `in shop`, `with checkout`.
    fn keyword_values(&mut self, known: &Known) {
        for i in 0..self.toks.len() {
            let Some(w) = self.free(i).map(str::to_string) else {
                continue;
            };
            match w.as_str() {
                "namespace" | "ns" | "-n" | "--namespace" => {
                    if let Some(v) = self.after(i).or_else(|| self.before(i)) {
                        self.set_namespace(i, v);
                    }
                }
                "cluster" | "context" | "--context" => {
                    if let Some(v) = self.after(i).or_else(|| self.before(i)) {
                        self.set_cluster(i, v);
                    }
                }
                _ => {}
            }
        }
        // Prepositions come second, so "in the shop namespace" was read above.
        for i in 0..self.toks.len() {
            let Some(w) = self.free(i).map(str::to_string) else {
                continue;
            };
            match w.as_str() {
                "in" | "on" | "inside" | "across" => {
                    let Some(v) = self.after(i) else { continue };
                    if known.clusters.iter().any(|c| *c == self.toks[v]) {
                        self.set_cluster(i, v);
                    } else if self.req.namespace.is_none() {
                        self.set_namespace(i, v);
                    }
                }
                "with" | "about" | "for" | "of" => {
                    let Some(v) = self.after(i) else { continue };
                    if known.clusters.iter().any(|c| *c == self.toks[v]) {
                        // "a summary of prod": the cluster.
                        self.set_cluster(i, v);
                    } else if self.req.name.is_none() && self.next_is_not_kind(v) {
                        self.req.name = Some(self.toks[v].clone());
                        self.take(i);
                        self.take(v);
                    }
                }
                _ => {}
            }
        }
    }

    fn next_is_not_kind(&self, i: usize) -> bool {
        self.toks
            .get(i + 1)
            .is_none_or(|w| words::kind(w).is_none())
    }

    /// The index of the name after keyword `i`, skipping one "the"/"my"/"our"/"this".
    fn after(&self, i: usize) -> Option<usize> {
        let mut j = i + 1;
        if matches!(self.free(j), Some("the" | "my" | "our" | "this")) {
            j += 1;
        }
        self.name_at(j).map(|_| j)
    }

    /// The index of the name just before keyword `i`.
    fn before(&self, i: usize) -> Option<usize> {
        let j = i.checked_sub(1)?;
        self.name_at(j).map(|_| j)
    }

    fn set_namespace(&mut self, kw: usize, v: usize) {
        if self.req.namespace.is_none() {
            self.req.namespace = Some(self.toks[v].clone());
            self.take(kw);
            self.take(v);
        }
    }

    fn set_cluster(&mut self, kw: usize, v: usize) {
        if self.req.cluster.is_none() {
            self.req.cluster = Some(self.toks[v].clone());
            self.take(kw);
            self.take(v);
        }
    }

    /// `service api`, `the api service`, `pods` (a kind alone).
    fn kinds_and_names(&mut self) {
        for i in 0..self.toks.len() {
            let Some(kind) = self.free(i).and_then(words::kind) else {
                continue;
            };
            if self.req.kind.is_some() {
                continue;
            }
            let plural = words::is_plural_kind(&self.toks[i]);
            self.req.kind = Some(kind.to_string());
            self.take(i);
            if plural || self.req.name.is_some() {
                continue;
            }
            if let Some(n) = self.name_at(i + 1) {
                self.req.name = Some(n);
                self.take(i + 1);
            } else if let Some(n) = i.checked_sub(1).and_then(|j| self.name_at(j)) {
                self.req.name = Some(n);
                self.take(i - 1);
            }
        }
    }

    /// "pending", "not ready", "unavailable": the check for the kind asked about, or the
    /// state's own check when no kind is named. Not for one named object (its whole chain is
    /// the answer).
    fn states(&mut self) {
        if self.req.name.is_some() || self.req.check.is_some() {
            return;
        }
        for i in 0..self.toks.len() {
            let Some((phrase, by_kind, default)) = self.phrase_at(i, words::STATES, |s| s.0) else {
                continue;
            };
            let id = match &self.req.kind {
                Some(k) => by_kind.iter().find(|(bk, _)| bk == k).map(|(_, id)| *id),
                None => *default,
            };
            if let Some(id) = id {
                self.set_check(id, i, phrase.len());
                for k in 0..phrase.len() {
                    self.take(i + k);
                }
                return;
            }
        }
    }

    /// Severities and categories anywhere.
    fn attributes(&mut self) {
        for i in 0..self.toks.len() {
            let Some(w) = self.free(i) else { continue };
            let amount = matches!(w, "high" | "low")
                && self
                    .toks
                    .get(i + 1)
                    .is_some_and(|n| words::UNSUPPORTED.contains(&n.as_str()));
            if amount {
                // "high latency": an amount of something no check reads, not a severity.
                self.take(i);
            } else if let Some(s) = words::severity(w) {
                // A lower bound: "critical or high" is at least high.
                if self.req.min_severity.is_none_or(|m| s < m) {
                    self.req.min_severity = Some(s);
                }
                self.take(i);
            } else if let Some(c) = words::category(w) {
                if self.req.category.is_none() {
                    self.req.category = Some(c);
                }
                self.take(i);
            }
        }
    }

    /// A kind or a category that a check's findings never have: keep the one that matters.
    fn reconcile(&mut self) {
        // "volume mount errors": the check (pod.container-creating, reliability) is more
        // precise than the category its words also name (storage).
        if let (Some(cat), Some(check)) = (self.req.category, &self.req.check)
            && let Some(c) = kaptain_analyze::catalog()
                .iter()
                .find(|c| c.info.id == check)
            && c.info.category != cat
        {
            self.req.category = None;
        }
        let (Some(kind), Some(check)) = (&self.req.kind, &self.req.check) else {
            return;
        };
        let kinds = words::check_kinds(check);
        if kinds.is_empty() || kinds.contains(&kind.as_str()) {
            return;
        }
        if self.req.name.is_some() {
            self.req.check = None;
            self.check_at = None;
        } else {
            self.req.kind = None;
        }
    }

    fn has(&self, set: &[&str]) -> bool {
        self.toks.iter().any(|t| set.contains(&t.as_str()))
    }

    fn phrase(&self, p: &[&str]) -> bool {
        self.toks
            .windows(p.len())
            .any(|w| w.iter().zip(p).all(|(a, b)| a == b))
    }

    /// "what is OOMKilled?", "what's pod.crash-loop": "what" + a check id or a status reason
    /// and nothing else asks what it means. "what is crashing?" does not ("crashing" is not a
    /// reason kubectl prints), nor "what certificates expire?".
    fn asks_a_definition(&self) -> bool {
        let Some((at, 1)) = self.check_at else {
            return false;
        };
        let word = &self.toks[at];
        let named = self.req.check.as_ref() == Some(word) || words::is_reason(word);
        named
            && self.toks.first().is_some_and(|t| t == "what")
            && self.toks.iter().enumerate().all(|(i, t)| {
                i == at || matches!(t.as_str(), "what" | "is" | "are" | "a" | "an" | "does")
            })
    }

    /// Picks the intent from the cue words and what was found; a free name is taken as the
    /// object asked about ("why is checkout down?").
    fn finish(mut self, known: &Known) -> Request {
        let why = self.has(words::WHY);
        let fix = self.has(words::FIX) || words::FIX_PHRASES.iter().any(|p| self.phrase(p));
        let explain = self.has(words::EXPLAIN) || self.asks_a_definition();
        let list = self.has(words::LIST);
        let help = self.has(words::HELP);

        // A free name is the object asked about only when the question asks about something
        // ("why is checkout down?", "when does the shop-tls cert expire?"), not in "make me a
        // sandwich".
        let asks = why
            || fix
            || self.has(words::DIAGNOSE)
            || self.req.check.is_some()
            || self.req.category.is_some();
        let mut ignored = Vec::new();
        for i in 0..self.toks.len() {
            let Some(w) = self.free(i) else { continue };
            // A second cluster ("in staging and prod") is not an object's name.
            // "in shop and payments", "checkout and ledger": one of each is read, the second
            // is said back.
            let second = i > 0 && matches!(self.toks[i - 1].as_str(), "and" | "or");
            if words::UNSUPPORTED.contains(&w) || known.clusters.iter().any(|c| c == w) {
                ignored.push(w.to_string());
            } else if words::is_reserved(w) {
                continue;
            } else if self.req.name.is_none() && can_name(w) && !list && asks && !second {
                self.req.name = Some(w.to_string());
            } else {
                ignored.push(w.to_string());
            }
        }
        self.req.ignored = ignored;

        let r = &self.req;
        let filtered = r.min_severity.is_some()
            || r.category.is_some()
            || r.check.is_some()
            || (r.kind.is_some() && r.name.is_none());
        let scoped = r.namespace.is_some() || r.cluster.is_some() || r.name.is_some() || filtered;
        self.req.intent = if help && !scoped {
            Intent::Help
        } else if explain && r.check.is_some() && r.name.is_none() && !fix {
            Intent::Explain
        } else if fix {
            Intent::Fix
        } else if r.name.is_some() && !list {
            Intent::Why
        } else if why {
            Intent::Diagnose
        } else if filtered || list {
            Intent::Findings
        } else if !scoped && !self.has(words::DIAGNOSE) {
            // Nothing understood at all: say what can be asked.
            Intent::Help
        } else {
            Intent::Diagnose
        };
        // Why and how to fix one named object: its whole cause chain answers, and the asker's
        // word for the symptom does not narrow it (a pod "crashing" may be OOM-killed, not in
        // CrashLoopBackOff). A check id written out still narrows.
        let id_written = self
            .check_at
            .is_some_and(|(at, _)| self.req.check.as_ref() == Some(&self.toks[at]));
        if matches!(self.req.intent, Intent::Why | Intent::Fix)
            && self.req.name.is_some()
            && !id_written
        {
            self.req.check = None;
        }
        self.req
    }
}

/// Whether a word can name a namespace, cluster or object: a DNS name that is no word of the
/// vocabulary and not a number.
fn can_name(w: &str) -> bool {
    words::is_name(w) && !words::is_reserved(w) && !w.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod table;
