//! Middleware decisions, as pure functions over a request head. The cores
//! wrap them in their own layer types (tower `Layer`s, `FactoryStack`
//! layers); what they decide is decided here, once.

use pb_core::config::{AuthConfig, HeadersConfig};
use pb_http::{Header, RequestHead};

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

/// Header rewriting compiled once from the configuration.
#[derive(Debug, Clone, Default)]
pub struct HeaderRules {
    /// Names removed from forwarded requests (lower-case).
    pub request_remove: Vec<String>,
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
                .map(|n| n.to_ascii_lowercase())
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
    pub fn apply<S>(&self, ex: &mut crate::Exchange<S>) {
        self.edit_request(&mut ex.request_remove, &mut ex.request_add);
        self.edit_response(&mut ex.response_add);
    }

    /// The request half of [`apply`](Self::apply), for a composition that
    /// edits the request and the response in separate phases.
    pub fn edit_request(&self, remove: &mut Vec<String>, add: &mut Vec<Header>) {
        remove.extend(self.request_remove.iter().cloned());
        add.extend(self.request_add.iter().cloned());
    }

    /// The response half of [`apply`](Self::apply).
    pub fn edit_response(&self, add: &mut Vec<Header>) {
        add.extend(self.response_add.iter().cloned());
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
}
