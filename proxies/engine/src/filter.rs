//! Middleware decisions, as pure functions over a request head (and the
//! experiments' injected work and dynamic filter, [`Work`]). The cores
//! wrap them in their own layer types (tower `Layer`s, `FactoryStack`
//! layers); what they decide is decided here, once.

use std::sync::Arc;

use pb_core::config::{AuthConfig, HeadersConfig};
use pb_core::{ProxyConfig, Spin};
use pb_dynamic::{Decision, Gate};
use pb_http::{Header, Name, RequestHead};

/// Why the auth filter refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No credentials: 401.
    Missing,
    /// Wrong credentials: 403.
    Wrong,
}

impl Refusal {
    /// The status to answer with.
    pub fn status(self) -> u16 {
        match self {
            Refusal::Missing => 401,
            Refusal::Wrong => 403,
        }
    }
}

/// Checks the token. Constant-time comparison is not needed for a
/// benchmark, but a refusal never reaches an upstream.
pub fn authorize(auth: &AuthConfig, head: &RequestHead) -> Result<(), Refusal> {
    check_token(auth, head.header(&auth.header))
}

/// The same check on the token header's value, wherever it was read from
/// (the reference stacks read it from their own header maps).
pub fn check_token(auth: &AuthConfig, value: Option<&[u8]>) -> Result<(), Refusal> {
    match value {
        None => Err(Refusal::Missing),
        Some(v) if v == auth.token.as_bytes() => Ok(()),
        Some(_) => Err(Refusal::Wrong),
    }
}

/// Header rewriting compiled once from the configuration. Its names and
/// headers are shared ([`Header`]): applying the rules to a request
/// clones reference counts into the exchange's reused lists, with no
/// allocation.
#[derive(Debug, Clone, Default)]
pub struct HeaderRules {
    /// Names removed from forwarded requests (lower-case).
    pub request_remove: Vec<Name>,
    /// Added to forwarded requests.
    pub request_add: Vec<Header>,
    /// Added to responses from upstreams.
    pub response_add: Vec<Header>,
}

impl HeaderRules {
    /// Compiles the `[headers]` section.
    pub fn new(config: &HeadersConfig) -> HeaderRules {
        let pairs = |v: &[(String, String)]| {
            v.iter()
                .map(|(n, val)| Header::new(n, val.as_bytes()))
                .collect()
        };
        HeaderRules {
            request_remove: config
                .request_remove
                .iter()
                .map(|n| n.to_ascii_lowercase().into())
                .collect(),
            request_add: pairs(&config.request_add),
            response_add: pairs(&config.response_add),
        }
    }

    /// Whether there is nothing to edit.
    pub fn is_empty(&self) -> bool {
        self.request_remove.is_empty()
            && self.request_add.is_empty()
            && self.response_add.is_empty()
    }

    /// Adds these rules to an exchange's edits, which the forwarder
    /// applies while it writes the request and the response.
    pub fn apply<S: crate::Stream>(&self, ex: &mut crate::Exchange<S>) {
        self.edit_request(&mut ex.request_remove, &mut ex.request_add);
        self.edit_response(&mut ex.response_add);
    }

    /// The request half of [`apply`](Self::apply), for a composition that
    /// edits the request and the response in separate phases.
    pub fn edit_request(&self, remove: &mut Vec<Name>, add: &mut Vec<Header>) {
        remove.extend(self.request_remove.iter().cloned());
        add.extend(self.request_add.iter().cloned());
    }

    /// The response half of [`apply`](Self::apply).
    pub fn edit_response(&self, add: &mut Vec<Header>) {
        add.extend(self.response_add.iter().cloned());
    }
}

/// What the claims' experiments inject into every request, compiled
/// once: the spin work of `[work]` (see [`pb_core::config::WorkConfig`])
/// at the two places it names, and the `[dynamic]` filter (see
/// [`pb_dynamic`]) at the request head. Every composition's work layer
/// calls it; a normal configuration has neither and the layer holds
/// `None`.
#[derive(Debug, Clone, Default)]
pub struct Work {
    call: Spin,
    header: Option<String>,
    max_iters: u64,
    gate: Option<Arc<Gate>>,
}

/// A request the injected behaviour answers itself, with this status
/// and an empty body, as every middleware refusal is: a work header that
/// is not a number of iterations within the limit (400), or the dynamic
/// filter's refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused(pub u16);

impl Refused {
    /// An unreadable or too large work header.
    pub const BAD_WORK: Refused = Refused(400);
}

impl Work {
    /// Compiles `[work]` and `[dynamic]`; `None` (neither section) costs
    /// nothing anywhere. The dynamic filter is the process's one gate for
    /// its configuration ([`Gate::shared_or_refusing`]).
    pub fn new(config: &ProxyConfig) -> Option<Work> {
        if config.work.is_none() && config.dynamic.is_none() {
            return None;
        }
        let work = config.work.as_ref();
        Some(Work {
            call: Spin::iters(work.map_or(0, |w| w.call_iters)),
            header: work
                .and_then(|w| w.header.as_ref())
                .map(|h| h.to_ascii_lowercase()),
            max_iters: work.map_or(0, |w| w.max_iters),
            gate: config.dynamic.as_ref().map(Gate::shared_or_refusing),
        })
    }

    /// The work of the request stack's `call`, before its future exists.
    #[inline]
    pub fn in_call(&self) {
        self.call.burn();
    }

    /// The dynamic filter's decision, then the iterations `head` asks to
    /// spend in its future (0 without the header).
    pub fn requested(&self, head: &RequestHead) -> Result<u64, Refused> {
        if let Some(gate) = &self.gate
            && let Decision::Answer(status) = gate.decide(head)
        {
            return Err(Refused(status));
        }
        let Some(value) = self.header.as_deref().and_then(|h| head.header(h)) else {
            return Ok(0);
        };
        std::str::from_utf8(value)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|&n| n <= self.max_iters)
            .ok_or(Refused::BAD_WORK)
    }

    /// Spends `iters` iterations (what [`requested`](Self::requested)
    /// gave), inside the request's future.
    #[inline]
    pub fn in_future(iters: u64) {
        Spin::iters(iters).burn();
    }

    /// All of it in one place, for a composition whose `call` and future
    /// run in the same task anyway (all but tower's).
    pub fn spend(&self, head: &RequestHead) -> Result<(), Refused> {
        self.in_call();
        Work::in_future(self.requested(head)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb_http::Limits;

    fn head(extra: &str) -> RequestHead {
        let text = format!("GET / HTTP/1.1\r\nHost: a\r\n{extra}\r\n");
        RequestHead::parse(text.as_bytes(), &Limits::default())
            .unwrap()
            .unwrap()
            .0
    }

    #[test]
    fn missing_token_is_401_wrong_is_403() {
        let auth = AuthConfig {
            header: "x-token".into(),
            token: "s3cret".into(),
        };
        assert_eq!(authorize(&auth, &head("")), Err(Refusal::Missing));
        assert_eq!(
            authorize(&auth, &head("X-Token: nope\r\n"))
                .unwrap_err()
                .status(),
            403
        );
        assert_eq!(authorize(&auth, &head("X-Token: s3cret\r\n")), Ok(()));
    }

    fn config(sections: &str) -> ProxyConfig {
        let text = format!(
            "[[pool]]\nname = \"p\"\nupstreams = [\"127.0.0.1:1\"]\n[[route]]\npool = \"p\"\n{sections}"
        );
        ProxyConfig::parse(&text, "test").unwrap()
    }

    #[test]
    fn work_reads_its_header_and_refuses_what_it_cannot_spend() {
        let work = Work::new(&config(
            "[work]\ncall_iters = 5\nheader = \"X-PB-Work\"\nmax_iters = 1000\n",
        ))
        .unwrap();
        let bad = Err(Refused::BAD_WORK);
        assert_eq!(work.requested(&head("")), Ok(0));
        assert_eq!(work.requested(&head("x-pb-work: 250\r\n")), Ok(250));
        assert_eq!(work.requested(&head("X-Pb-Work:  1000 \r\n")), Ok(1000));
        assert_eq!(work.requested(&head("x-pb-work: 1001\r\n")), bad);
        assert_eq!(work.requested(&head("x-pb-work: -1\r\n")), bad);
        assert_eq!(work.requested(&head("x-pb-work: lots\r\n")), bad);
        assert!(Work::new(&config("")).is_none());
        // Without a header every request asks for nothing.
        let fixed = Work::new(&config("[work]\ncall_iters = 5\n")).unwrap();
        assert_eq!(fixed.requested(&head("x-pb-work: 7\r\n")), Ok(0));
    }

    #[test]
    fn a_dynamic_filter_answers_before_any_work_is_read() {
        let work = Work::new(&config(
            "[work]\nheader = \"x-pb-work\"\nmax_iters = 10\n[dynamic]\nengine = \"native\"\n",
        ))
        .unwrap();
        assert_eq!(
            work.requested(&head("x-pb-work: 11\r\n")),
            Err(Refused(401))
        );
        assert_eq!(
            work.requested(&head("x-pb-token: pb-open-sesame\r\nx-pb-work: 11\r\n")),
            Err(Refused::BAD_WORK)
        );
        assert_eq!(
            work.requested(&head("x-pb-token: pb-open-sesame\r\nx-pb-work: 3\r\n")),
            Ok(3)
        );
        let gate_only = Work::new(&config("[dynamic]\nengine = \"native\"\n")).unwrap();
        assert_eq!(
            gate_only.requested(&head("x-pb-deny: 1\r\n")),
            Err(Refused(403))
        );
    }

    #[test]
    fn a_filter_that_cannot_be_built_refuses_every_request() {
        let work = Work::new(&config(
            "[dynamic]\nengine = \"wasmi\"\nmodule = \"/nonexistent/gate.wat\"\n",
        ))
        .unwrap();
        assert_eq!(
            work.requested(&head("x-pb-token: pb-open-sesame\r\n")),
            Err(Refused(500))
        );
    }
}
