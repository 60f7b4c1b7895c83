//! Plain words → [`Request`], by rules (no model, no network): the same question always reads
//! the same way, and what was not understood is said back in `ignored`.

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
    let mut p = Parser {
        toks,
        used: Vec::new(),
        req: Request::new(Intent::Diagnose),
    };
    p.used = vec![false; p.toks.len()];
    p.check_ids();
    p.problems();
    p.slashed_objects();
    p.keyword_values(known);
    p.kinds_and_names();
    p.attributes();
    Ok(p.finish())
}

/// Lowercase words, split on spaces and punctuation that never belongs to a name; quotes and
/// trailing dots dropped, possessives cut (`checkout's` → `checkout`).
fn tokens(text: &str) -> Vec<String> {
    text.replace(['’', '‘'], "'")
        .split(|c: char| c.is_whitespace() || ",;!?()[]{}\"“”`".contains(c))
        .map(|t| {
            let t = t.trim_matches(|c: char| "'.:".contains(c)).to_lowercase();
            match t.strip_suffix("'s") {
                Some(stem) if !stem.is_empty() => stem.to_string(),
                _ => t,
            }
        })
        .filter(|t| !t.is_empty())
        .collect()
}

struct Parser {
    toks: Vec<String>,
    used: Vec<bool>,
    req: Request,
}

impl Parser {
    fn free(&self, i: usize) -> Option<&str> {
        (i < self.toks.len() && !self.used[i]).then(|| self.toks[i].as_str())
    }

    /// A free word at `i` that can be a name and is not a word of the vocabulary.
    fn name_at(&self, i: usize) -> Option<String> {
        self.free(i)
            .filter(|w| words::is_name(w) && !words::is_reserved(w))
            .map(str::to_string)
    }

    fn take(&mut self, i: usize) {
        self.used[i] = true;
    }

    /// Check ids written out (`pod.crash-loop`).
    fn check_ids(&mut self) {
        let catalog = kaptain_analyze::catalog();
        for i in 0..self.toks.len() {
            if catalog.iter().any(|c| c.info.id == self.toks[i]) && self.req.check.is_none() {
                self.req.check = Some(self.toks[i].clone());
                self.take(i);
            }
        }
    }

    /// Everyday names of problems ("crash looping", "out of memory").
    fn problems(&mut self) {
        let mut i = 0;
        while i < self.toks.len() {
            let hit = words::PROBLEMS.iter().find(|(phrase, _)| {
                i + phrase.len() <= self.toks.len()
                    && phrase
                        .iter()
                        .enumerate()
                        .all(|(k, w)| self.free(i + k) == Some(w))
            });
            match hit {
                Some((phrase, id)) => {
                    if self.req.check.is_none() {
                        self.req.check = Some((*id).to_string());
                    }
                    for k in 0..phrase.len() {
                        self.take(i + k);
                    }
                    i += phrase.len();
                }
                None => i += 1,
            }
        }
    }

    /// `deploy/checkout`, `svc/api` as kubectl writes them.
    fn slashed_objects(&mut self) {
        for i in 0..self.toks.len() {
            let Some((k, n)) = self.toks[i].split_once('/') else {
                continue;
            };
            if let Some(kind) = words::kind(k)
                && words::is_name(n)
                && self.req.name.is_none()
            {
                self.req.kind = Some(kind.to_string());
                self.req.name = Some(n.to_string());
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
                    if let Some(v) = self.after(i) {
                        self.set_namespace(i, v);
                    } else if let Some(v) = self.before(i) {
                        self.set_namespace(i, v);
                    }
                }
                "cluster" | "context" | "--context" => {
                    if let Some(v) = self.after(i) {
                        self.set_cluster(i, v);
                    } else if let Some(v) = self.before(i) {
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
                    // "in svc/api", "in the pod api": an object, read later.
                    if words::kind(&self.toks[v]).is_some() {
                        continue;
                    }
                    if known.clusters.iter().any(|c| *c == self.toks[v]) {
                        self.set_cluster(i, v);
                    } else if self.req.namespace.is_none() {
                        self.set_namespace(i, v);
                    }
                }
                "with" | "about" | "for" | "of" => {
                    let Some(v) = self.after(i) else { continue };
                    if self.req.name.is_none() && self.next_is_not_kind(v) {
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

    /// The index of the name after keyword `i`, skipping one "the"/"my"/"our".
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

    /// Severities and categories anywhere.
    fn attributes(&mut self) {
        for i in 0..self.toks.len() {
            let Some(w) = self.free(i) else { continue };
            if let Some(s) = words::severity(w) {
                if self.req.min_severity.is_none() {
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

    fn has(&self, set: &[&str]) -> bool {
        self.toks.iter().any(|t| set.contains(&t.as_str()))
    }

    /// Picks the intent from the cue words and what was found; a free name is taken as the
    /// object asked about ("why is checkout down?").
    fn finish(mut self) -> Request {
        let why = self.has(words::WHY);
        let fix =
            self.has(words::FIX) || self.phrase(&["how", "to"]) || self.phrase(&["how", "do"]);
        // "what is pod.crash-loop?" asks for a definition; "what certificates expire?" does not.
        let explain = self.has(words::EXPLAIN)
            || (self.toks.first().is_some_and(|t| t == "what")
                && self
                    .req
                    .check
                    .as_ref()
                    .is_some_and(|c| self.toks.contains(c))
                && self.req.namespace.is_none()
                && self.req.name.is_none());
        let list = self.has(words::LIST);
        let help = self.has(words::HELP);

        // A free name is the object asked about only when the question asks about something
        // ("why is checkout down?"), not in "make me a sandwich".
        let asks = why || fix || self.toks.iter().any(|t| DIAGNOSE.contains(&t.as_str()));
        let mut ignored = Vec::new();
        for i in 0..self.toks.len() {
            let Some(w) = self.free(i) else { continue };
            if words::is_reserved(w) {
                continue;
            }
            if self.req.name.is_none() && words::is_name(w) && !list && asks {
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
        } else if !scoped && !self.toks.iter().any(|t| DIAGNOSE.contains(&t.as_str())) {
            // Nothing understood at all: say what can be asked.
            Intent::Help
        } else {
            Intent::Diagnose
        };
        self.req
    }

    fn phrase(&self, p: &[&str]) -> bool {
        self.toks
            .windows(p.len())
            .any(|w| w.iter().zip(p).all(|(a, b)| a == b))
    }
}

/// Words that ask what is wrong without naming anything.
const DIAGNOSE: &[&str] = &[
    "wrong",
    "broken",
    "failing",
    "fails",
    "down",
    "diagnose",
    "diagnosis",
    "health",
    "healthy",
    "unhealthy",
    "status",
    "happening",
    "ok",
    "okay",
    "problems",
    "issues",
    "errors",
    "trouble",
];

#[cfg(test)]
mod tests {
    use kaptain_model::{Category, Severity};

    use super::*;

    fn read(q: &str) -> Request {
        parse(q, &Known::default()).unwrap_or_else(|e| panic!("{q}: {e}"))
    }

    #[test]
    fn what_is_wrong_reads_as_diagnose_with_a_namespace() {
        for q in [
            "what's wrong in namespace shop?",
            "What is wrong in the shop namespace",
            "diagnose -n shop",
            "is anything broken in shop?",
            "health of ns shop",
        ] {
            let r = read(q);
            assert_eq!(r.intent, Intent::Diagnose, "{q}: {r:?}");
            assert_eq!(r.namespace.as_deref(), Some("shop"), "{q}: {r:?}");
            assert_eq!(r.name, None, "{q}: {r:?}");
            assert!(r.ignored.is_empty(), "{q}: {r:?}");
        }
        let r = read("what is wrong?");
        assert_eq!((r.intent, r.namespace), (Intent::Diagnose, None));
    }

    #[test]
    fn a_named_object_reads_as_why() {
        let r = read("Why is the checkout deployment failing in shop?");
        assert_eq!(r.intent, Intent::Why);
        assert_eq!(r.kind.as_deref(), Some("Deployment"));
        assert_eq!(r.name.as_deref(), Some("checkout"));
        assert_eq!(r.namespace.as_deref(), Some("shop"));

        let r = read("why is svc/api down");
        assert_eq!(
            (r.intent, r.kind.as_deref(), r.name.as_deref()),
            (Intent::Why, Some("Service"), Some("api"))
        );
        // A bare name is the object asked about.
        let r = read("why is checkout down?");
        assert_eq!(
            (r.intent, r.kind, r.name.as_deref()),
            (Intent::Why, None, Some("checkout"))
        );
        let r = read("what's wrong with ledger's pods");
        assert_eq!(r.name.as_deref(), Some("ledger"));
        assert_eq!(r.intent, Intent::Why);
    }

    #[test]
    fn filters_read_as_a_findings_list() {
        let r = read("show critical findings in payments");
        assert_eq!(r.intent, Intent::Findings);
        assert_eq!(r.min_severity, Some(Severity::Critical));
        assert_eq!(r.namespace.as_deref(), Some("payments"));

        let r = read("which pods are crash looping?");
        assert_eq!(r.intent, Intent::Findings);
        assert_eq!(r.kind.as_deref(), Some("Pod"));
        assert_eq!(r.check.as_deref(), Some("pod.crash-loop"));

        let r = read("any network issues on cluster prod");
        assert_eq!(r.intent, Intent::Findings);
        assert_eq!(r.category, Some(Category::Network));
        assert_eq!(r.cluster.as_deref(), Some("prod"));
        assert_eq!(r.namespace, None);

        let r = read("OOMKilled pods");
        assert_eq!(r.check.as_deref(), Some("pod.oom-killed"));
        assert_eq!(r.intent, Intent::Findings);
    }

    #[test]
    fn fix_and_explain_and_help() {
        let r = read("how do I fix the checkout service?");
        assert_eq!(r.intent, Intent::Fix);
        assert_eq!(
            (r.kind.as_deref(), r.name.as_deref()),
            (Some("Service"), Some("checkout"))
        );
        assert_eq!(read("fix everything in shop").intent, Intent::Fix);

        let r = read("what does pod.crash-loop mean?");
        assert_eq!(
            (r.intent, r.check.as_deref()),
            (Intent::Explain, Some("pod.crash-loop"))
        );
        let r = read("explain out of memory");
        assert_eq!(
            (r.intent, r.check.as_deref()),
            (Intent::Explain, Some("pod.oom-killed"))
        );
        let r = read("what is pod.image-pull");
        assert_eq!(r.intent, Intent::Explain);
        // A problem named in everyday words after "what" is a question about the cluster.
        let r = read("what certificates expire soon?");
        assert_eq!(
            (r.intent, r.check.as_deref()),
            (Intent::Findings, Some("certificate.expiring"))
        );
        assert!(r.ignored.is_empty(), "{r:?}");
        // Generic words are not taken for an object's name.
        for q in ["what should I fix first?", "why is my app down?"] {
            assert_eq!(read(q).name, None, "{q}");
        }

        assert_eq!(read("help").intent, Intent::Help);
        let r = read("make me a sandwich");
        assert_eq!(r.intent, Intent::Help, "{r:?}");
        assert_eq!(r.ignored, ["make", "sandwich"]);
    }

    #[test]
    fn known_clusters_win_over_namespaces() {
        let clusters = vec!["prod".to_string(), "staging".to_string()];
        let known = Known {
            clusters: &clusters,
        };
        let r = parse("what is wrong in prod", &known).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((r.cluster.as_deref(), r.namespace), (Some("prod"), None));
        let r = parse("what is wrong in shop on staging", &known).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.cluster.as_deref(), Some("staging"));
        assert_eq!(r.namespace.as_deref(), Some("shop"));
    }

    #[test]
    fn an_empty_question_is_an_error() {
        assert!(parse("  ?! ", &Known::default()).is_err());
        assert!(parse("", &Known::default()).is_err());
    }
}
